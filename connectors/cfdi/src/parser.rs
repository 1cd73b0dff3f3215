//! Streaming CFDI parser on quick-xml events (no DOM). Elements are matched by namespace URI and local name,
//! never by prefix; everything a receivable does not need (Conceptos, Impuestos, Addenda, unknown complements) is
//! skipped without being looked at. Text is borrowed from the input unless it contains escapes.

use crate::error::{ErrorKind, ParseError};
use crate::model::{Cfdi, DoctoRelacionado, PagosVersion, Party, Relation};
use crate::values::{attr_text, attributes, parse_fecha, parse_uuid, Attr, AttrList};
use quick_xml::events::Event;
use quick_xml::name::QName;
use quick_xml::Reader;

/// Default cap on the size of one document: 8 MiB (real CFDI are a few KiB; big ones with many concepts
/// reach a few hundred KiB).
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 8 * 1024 * 1024;

/// Parser settings.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    pub max_document_bytes: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
        }
    }
}

const NS_CFD3: &[u8] = b"http://www.sat.gob.mx/cfd/3";
const NS_CFD4: &[u8] = b"http://www.sat.gob.mx/cfd/4";
const NS_TFD: &[u8] = b"http://www.sat.gob.mx/TimbreFiscalDigital";
const NS_PAGOS10: &[u8] = b"http://www.sat.gob.mx/Pagos";
const NS_PAGOS20: &[u8] = b"http://www.sat.gob.mx/Pagos20";
const NS_RET_PREFIX: &[u8] = b"http://www.sat.gob.mx/esquemas/retencionpago/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Cfd3,
    Cfd4,
    Tfd,
    Pagos10,
    Pagos20,
    Retenciones,
    Other,
}

fn classify(uri: &[u8]) -> Ns {
    match uri {
        NS_CFD3 => Ns::Cfd3,
        NS_CFD4 => Ns::Cfd4,
        NS_TFD => Ns::Tfd,
        NS_PAGOS10 => Ns::Pagos10,
        NS_PAGOS20 => Ns::Pagos20,
        u if u.starts_with(NS_RET_PREFIX) => Ns::Retenciones,
        _ => Ns::Other,
    }
}

/// A namespace declaration in scope: declared on the element at `depth` (root = 0), its URI already classified.
struct Binding<'a> {
    prefix: &'a [u8],
    ns: Ns,
    depth: usize,
}

/// Where the parser is: the stack holds only elements it descends into; all others are skipped whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    Comprobante,
    Relacionados,
    Complemento,
    Pagos,
    Pago,
}

/// Parses one CFDI with the default options.
pub fn parse(input: &[u8]) -> Result<Cfdi<'_>, ParseError> {
    parse_with(input, &ParseOptions::default())
}

/// Parses one CFDI 3.3 or 4.0 document. Refuses DOCTYPE, inputs over the size cap, CFDI 3.2 and non-Comprobante
/// roots (retenciones) with a reason and position.
pub fn parse_with<'a>(input: &'a [u8], opts: &ParseOptions) -> Result<Cfdi<'a>, ParseError> {
    if input.len() > opts.max_document_bytes {
        return Err(ParseError::whole(
            ErrorKind::TooLarge,
            format!(
                "document is {} bytes, more than the {} byte limit",
                input.len(),
                opts.max_document_bytes
            ),
        ));
    }
    let mut p = Parser {
        input,
        reader: Reader::from_reader(input),
        bindings: Vec::with_capacity(8),
        stack: Vec::with_capacity(8),
        root_ns: Ns::Other,
        doc: None,
        pagos_ns: Ns::Other,
        root_done: false,
        seen_emisor: false,
        seen_receptor: false,
    };
    p.run()?;
    if let Some(d) = &p.doc {
        for (seen, what) in [(p.seen_emisor, "Emisor"), (p.seen_receptor, "Receptor")] {
            if !seen {
                return Err(ParseError::at(
                    input,
                    0,
                    ErrorKind::Invalid,
                    format!(
                        "Comprobante {} {} has no {what} element",
                        d.version.as_str(),
                        d.tipo.as_str()
                    ),
                )
                .with_field(what));
            }
        }
    }
    p.doc.ok_or_else(|| {
        ParseError::at(
            input,
            input.len() as u64,
            ErrorKind::NotComprobante,
            "no root element: the input is empty or has no XML element",
        )
    })
}

struct Parser<'a> {
    input: &'a [u8],
    reader: Reader<&'a [u8]>,
    /// Namespace declarations of the elements the parser looks at (skipped subtrees are never resolved).
    bindings: Vec<Binding<'a>>,
    stack: Vec<Frame>,
    root_ns: Ns,
    doc: Option<Cfdi<'a>>,
    pagos_ns: Ns,
    root_done: bool,
    seen_emisor: bool,
    seen_receptor: bool,
}

impl<'a> Parser<'a> {
    fn err(&self, offset: u64, kind: ErrorKind, msg: impl Into<String>) -> ParseError {
        ParseError::at(self.input, offset, kind, msg)
    }

    fn xml_err(&self, e: &quick_xml::Error) -> ParseError {
        self.err(
            self.reader.error_position(),
            ErrorKind::Malformed,
            format!("malformed XML: {e}"),
        )
    }

    fn run(&mut self) -> Result<(), ParseError> {
        // The attributes of the current element, scanned once: namespace declarations and values come from here.
        let mut attrs: AttrList<'a> = Vec::with_capacity(32);
        loop {
            let pos = self.reader.buffer_position();
            // The event is used where the reader returned it (by reference), not moved out of the result first.
            let read = self.reader.read_event();
            let ev = match &read {
                Ok(ev) => ev,
                Err(e) => return Err(self.xml_err(e)),
            };
            let (e, empty) = match ev {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => {
                    self.stack.pop();
                    if self.stack.is_empty() {
                        self.root_done = true;
                    }
                    continue;
                }
                Event::DocType(_) => {
                    return Err(self.err(
                        pos,
                        ErrorKind::Forbidden,
                        "DOCTYPE is not allowed in a CFDI (entity declarations are refused)",
                    ))
                }
                Event::Eof => {
                    if !self.stack.is_empty() {
                        return Err(self.err(
                            pos,
                            ErrorKind::Malformed,
                            "malformed XML: unexpected end of input inside an element",
                        ));
                    }
                    return Ok(());
                }
                _ => continue,
            };
            let name = attributes(self.input, pos, e, &mut attrs)?;
            let (local, prefix) = QName(name).decompose();
            let (local, prefix) = (
                local.into_inner(),
                prefix.map_or(&b""[..], |p| p.into_inner()),
            );
            let ns = self.resolve(prefix, &attrs);
            self.element(pos, ns, name, local, empty, &attrs)?;
        }
    }

    /// Records the namespace declarations among the current element's attributes and resolves its prefix to a
    /// known namespace.
    fn resolve(&mut self, prefix: &[u8], attrs: &[Attr<'a>]) -> Ns {
        let depth = self.stack.len();
        self.bindings.retain(|b| b.depth < depth);
        for a in attrs {
            if !a.key.starts_with(b"xmlns") {
                continue;
            }
            let prefix = if a.key == b"xmlns" {
                &a.key[..0]
            } else if let Some(p) = a.key.strip_prefix(b"xmlns:") {
                p
            } else {
                continue;
            };
            self.bindings.push(Binding {
                prefix,
                ns: classify(a.value),
                depth,
            });
        }
        self.bindings
            .iter()
            .rev()
            .find(|b| b.prefix == prefix)
            .map_or(Ns::Other, |b| b.ns)
    }

    /// Reads past the rest of the element named `name` (borrowed from the input) when it has content.
    fn skip(&mut self, name: &[u8], empty: bool) -> Result<(), ParseError> {
        if !empty {
            if let Err(err) = self.reader.read_to_end(QName(name)) {
                return Err(self.xml_err(&err));
            }
        }
        Ok(())
    }

    fn enter(&mut self, frame: Frame, empty: bool) {
        if !empty {
            self.stack.push(frame);
        }
    }

    fn element(
        &mut self,
        pos: u64,
        ns: Ns,
        name: &[u8],
        local: &[u8],
        empty: bool,
        attrs: &[Attr<'a>],
    ) -> Result<(), ParseError> {
        let Some(&frame) = self.stack.last() else {
            return self.root(pos, ns, local, empty, attrs);
        };
        let in_cfdi = ns == self.root_ns;
        match (frame, local) {
            (Frame::Comprobante, b"Emisor") if in_cfdi => {
                let party = self.party(attrs)?;
                self.seen_emisor = true;
                if let Some(d) = self.doc.as_mut() {
                    d.emisor = party;
                }
                self.skip(name, empty)
            }
            (Frame::Comprobante, b"Receptor") if in_cfdi => {
                let party = self.party(attrs)?;
                self.seen_receptor = true;
                if let Some(d) = self.doc.as_mut() {
                    d.receptor = party;
                }
                self.skip(name, empty)
            }
            (Frame::Comprobante, b"CfdiRelacionados") if in_cfdi => {
                let mut tipo = None;
                for a in attrs {
                    if a.key == b"TipoRelacion" {
                        tipo = Some(attr_text(self.input, a, "CfdiRelacionados@TipoRelacion")?);
                    }
                }
                let tipo = tipo.ok_or_else(|| {
                    self.err(
                        pos,
                        ErrorKind::Invalid,
                        "CfdiRelacionados has no TipoRelacion",
                    )
                    .with_field("CfdiRelacionados@TipoRelacion")
                })?;
                if let Some(d) = self.doc.as_mut() {
                    d.relations.push(Relation {
                        tipo,
                        uuids: Vec::new(),
                    });
                }
                self.enter(Frame::Relacionados, empty);
                Ok(())
            }
            (Frame::Relacionados, b"CfdiRelacionado") if in_cfdi => {
                let mut uuid = None;
                for a in attrs {
                    if a.key == b"UUID" {
                        uuid = Some(parse_uuid(self.input, a, "CfdiRelacionado@UUID")?);
                    }
                }
                let uuid = uuid.ok_or_else(|| {
                    self.err(pos, ErrorKind::Invalid, "CfdiRelacionado has no UUID")
                        .with_field("CfdiRelacionado@UUID")
                })?;
                if let Some(r) = self.doc.as_mut().and_then(|d| d.relations.last_mut()) {
                    r.uuids.push(uuid);
                }
                self.skip(name, empty)
            }
            (Frame::Comprobante, b"Complemento") if in_cfdi => {
                self.enter(Frame::Complemento, empty);
                Ok(())
            }
            (Frame::Complemento, b"TimbreFiscalDigital") if ns == Ns::Tfd => {
                self.timbre(pos, attrs)?;
                self.skip(name, empty)
            }
            (Frame::Complemento, b"Pagos") if matches!(ns, Ns::Pagos10 | Ns::Pagos20) => {
                let v = if ns == Ns::Pagos10 {
                    PagosVersion::V10
                } else {
                    PagosVersion::V20
                };
                if let Some(d) = self.doc.as_mut() {
                    if d.pagos_version.is_some_and(|old| old != v) {
                        return Err(self.err(
                            pos,
                            ErrorKind::Invalid,
                            "both Pagos 1.0 and Pagos 2.0 complements in one document",
                        ));
                    }
                    d.pagos_version = Some(v);
                }
                self.pagos_ns = ns;
                self.enter(Frame::Pagos, empty);
                Ok(())
            }
            (Frame::Pagos, b"Pago") if ns == self.pagos_ns => {
                let pago = crate::pagos::pago(self.input, pos, attrs)?;
                if let Some(d) = self.doc.as_mut() {
                    d.pagos.push(pago);
                }
                self.enter(Frame::Pago, empty);
                Ok(())
            }
            (Frame::Pago, b"DoctoRelacionado") if ns == self.pagos_ns => {
                let docto: DoctoRelacionado<'a> = crate::pagos::docto(self.input, pos, attrs)?;
                if let Some(p) = self.doc.as_mut().and_then(|d| d.pagos.last_mut()) {
                    p.doctos.push(docto);
                }
                self.skip(name, empty)
            }
            _ => self.skip(name, empty),
        }
    }

    fn party(&self, attrs: &[Attr<'a>]) -> Result<Party<'a>, ParseError> {
        let mut p = Party::default();
        for a in attrs {
            match a.key {
                b"Rfc" => p.rfc = attr_text(self.input, a, "Rfc")?,
                b"Nombre" => p.nombre = Some(attr_text(self.input, a, "Nombre")?),
                _ => {}
            }
        }
        Ok(p)
    }

    fn timbre(&mut self, pos: u64, attrs: &[Attr<'a>]) -> Result<(), ParseError> {
        let mut uuid = None;
        let mut fecha = None;
        for a in attrs {
            match a.key {
                b"UUID" => uuid = Some(parse_uuid(self.input, a, "TimbreFiscalDigital@UUID")?),
                b"FechaTimbrado" => {
                    fecha = Some(parse_fecha(
                        self.input,
                        a,
                        "TimbreFiscalDigital@FechaTimbrado",
                    )?)
                }
                _ => {}
            }
        }
        let uuid = uuid.ok_or_else(|| {
            self.err(pos, ErrorKind::Invalid, "TimbreFiscalDigital has no UUID")
                .with_field("TimbreFiscalDigital@UUID")
        })?;
        let doc = self.doc.as_mut();
        if let Some(d) = doc {
            if d.uuid.is_some() {
                return Err(ParseError::at(
                    self.input,
                    pos,
                    ErrorKind::Invalid,
                    "more than one TimbreFiscalDigital: the document's identity is ambiguous",
                )
                .with_field("TimbreFiscalDigital"));
            }
            d.uuid = Some(uuid);
            d.fecha_timbrado = fecha;
        }
        Ok(())
    }

    fn root(
        &mut self,
        pos: u64,
        ns: Ns,
        local: &[u8],
        empty: bool,
        attrs: &[Attr<'a>],
    ) -> Result<(), ParseError> {
        if self.root_done {
            return Err(self.err(
                pos,
                ErrorKind::Malformed,
                "malformed XML: a second root element after the first one ended",
            ));
        }
        let name = || String::from_utf8_lossy(local);
        if ns == Ns::Retenciones {
            return Err(self.err(
                pos,
                ErrorKind::NotComprobante,
                format!(
                    "a CFDI de retenciones ({}) is not a Comprobante: not a receivable",
                    name()
                ),
            ));
        }
        if !matches!(ns, Ns::Cfd3 | Ns::Cfd4) || local != b"Comprobante" {
            return Err(self.err(
                pos,
                ErrorKind::NotComprobante,
                format!(
                    "root element {} is not a cfdi:Comprobante in namespace http://www.sat.gob.mx/cfd/3 or /4",
                    name()
                ),
            ));
        }
        self.root_ns = ns;
        let doc = crate::comprobante::root(self.input, pos, ns == Ns::Cfd4, attrs)?;
        self.doc = Some(doc);
        if empty {
            self.root_done = true;
        }
        self.enter(Frame::Comprobante, empty);
        Ok(())
    }
}
