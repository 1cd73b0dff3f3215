-- Raw bodies are stored compressed (zstd) when that saves space; `encoding` says how to read `body` back:
-- 'identity' (as delivered), 'zstd', or 'zstd-dict' (zstd with the dictionary `dict_id` of raw_dicts). The
-- sha256 is always that of the bytes as delivered. `cuadra raw` prints a body as delivered.
ALTER TABLE raw_inbox ADD COLUMN encoding TEXT NOT NULL DEFAULT 'identity';
ALTER TABLE raw_inbox ADD COLUMN dict_id BIGINT;

-- A dictionary is the second body seen of its kind and fingerprint (for a CFDI, the issuer's certificate number):
-- the certificate and the boilerplate every later CFDI of that issuer repeats.
CREATE TABLE raw_dicts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX raw_dicts_fingerprint ON raw_dicts (kind, fingerprint);
