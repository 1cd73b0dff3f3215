//! A minimal streaming writer and reader for *stored* (uncompressed) zip32 archives: what SAT packages look like
//! to `cuadra import cfdi`, without a compression dependency. The reader only reads archives this writer made.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xedb8_8320
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    !data.iter().fold(!0u32, |c, b| {
        t[((c ^ u32::from(*b)) & 0xff) as usize] ^ (c >> 8)
    })
}

pub struct ZipWriter {
    f: BufWriter<File>,
    central: Vec<u8>,
    off: u64,
    count: u32,
}

impl ZipWriter {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(ZipWriter {
            f: BufWriter::new(File::create(path)?),
            central: Vec::new(),
            off: 0,
            count: 0,
        })
    }

    pub fn entries(&self) -> u32 {
        self.count
    }

    pub fn add(&mut self, name: &str, data: &[u8]) -> std::io::Result<()> {
        let (crc, len) = (crc32(data), data.len() as u32);
        let mut common = Vec::with_capacity(26);
        common.extend_from_slice(&20u16.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        common.extend_from_slice(&0u32.to_le_bytes());
        common.extend_from_slice(&crc.to_le_bytes());
        common.extend_from_slice(&len.to_le_bytes());
        common.extend_from_slice(&len.to_le_bytes());
        common.extend_from_slice(&(name.len() as u16).to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        self.f.write_all(&0x0403_4b50u32.to_le_bytes())?;
        self.f.write_all(&common)?;
        self.f.write_all(name.as_bytes())?;
        self.f.write_all(data)?;
        self.central
            .extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        self.central.extend_from_slice(&20u16.to_le_bytes());
        self.central.extend_from_slice(&common);
        self.central.extend_from_slice(&[0; 6]);
        self.central.extend_from_slice(&0u32.to_le_bytes());
        self.central
            .extend_from_slice(&(self.off as u32).to_le_bytes());
        self.central.extend_from_slice(name.as_bytes());
        self.off += 30 + name.len() as u64 + data.len() as u64;
        self.count += 1;
        if self.off >= u64::from(u32::MAX) {
            return Err(std::io::Error::other("package too large for zip32"));
        }
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        let count = self.count as u16;
        self.f.write_all(&self.central)?;
        self.f.write_all(&0x0605_4b50u32.to_le_bytes())?;
        self.f.write_all(&[0; 4])?;
        self.f.write_all(&count.to_le_bytes())?;
        self.f.write_all(&count.to_le_bytes())?;
        self.f
            .write_all(&(self.central.len() as u32).to_le_bytes())?;
        self.f.write_all(&(self.off as u32).to_le_bytes())?;
        self.f.write_all(&0u16.to_le_bytes())?;
        self.f.flush()
    }
}

/// Calls `f` with each entry of a stored archive written by [`ZipWriter`].
pub fn read_stored(bytes: &[u8], mut f: impl FnMut(&[u8])) -> anyhow::Result<()> {
    let mut p = 0usize;
    let u16_at = |p: usize| u16::from_le_bytes([bytes[p], bytes[p + 1]]) as usize;
    while p + 30 <= bytes.len() && bytes[p..p + 4] == 0x0403_4b50u32.to_le_bytes() {
        anyhow::ensure!(
            u16_at(p + 8) == 0,
            "entry at byte {p} is compressed; expected a stored archive"
        );
        let size = u32::from_le_bytes([bytes[p + 18], bytes[p + 19], bytes[p + 20], bytes[p + 21]])
            as usize;
        let start = p + 30 + u16_at(p + 26) + u16_at(p + 28);
        anyhow::ensure!(
            start + size <= bytes.len(),
            "entry at byte {p} runs past the end of the archive"
        );
        f(&bytes[start..start + size]);
        p = start + size;
    }
    Ok(())
}
