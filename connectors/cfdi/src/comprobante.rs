//! The `cfdi:Comprobante` root: version detection (3.2 refused by its lower-case `version` attribute) and the
//! header attributes receivables need.

use crate::error::{ErrorKind, ParseError};
use crate::model::{Cfdi, CfdiVersion, Party, Tipo};
use crate::values::{
    attr_text, invalid, parse_amount, parse_currency, parse_fecha, parse_rate, Attr,
};

/// Reads the root element's attributes into an otherwise empty `Cfdi`.
pub(crate) fn root<'a>(
    input: &'a [u8],
    pos: u64,
    cfd4: bool,
    attrs: &[Attr<'a>],
) -> Result<Cfdi<'a>, ParseError> {
    let missing = |field: &str| {
        ParseError::at(
            input,
            pos,
            ErrorKind::Invalid,
            format!("Comprobante has no {field} attribute"),
        )
        .with_field(format!("Comprobante@{field}"))
    };
    let mut version = None;
    let mut serie = None;
    let mut folio = None;
    let mut fecha = None;
    let mut tipo = None;
    let mut moneda = None;
    let mut tipo_cambio = None;
    let mut subtotal = None;
    let mut descuento = None;
    let mut total = None;
    let mut metodo_pago = None;
    let mut forma_pago = None;
    let mut lugar = None;
    // The first bad value is kept, not returned at once: a 3.2 document (lower-case `version`, possibly after
    // `Moneda="Pesos"`) must be reported as unsupported whatever the attribute order.
    let mut first_err: Option<ParseError> = None;
    let mut legacy: Option<ParseError> = None;
    for a in attrs {
        let r: Result<(), ParseError> = (|| {
            match a.key {
                b"Version" => {
                    let v = attr_text(input, a, "Comprobante@Version")?;
                    version = Some(match (&*v, cfd4) {
                    ("3.3", false) => CfdiVersion::V33,
                    ("4.0", true) => CfdiVersion::V40,
                    _ => {
                        return Err(ParseError::at(
                            input,
                            pos,
                            ErrorKind::Unsupported,
                            format!(
                                "CFDI Version {v:?} in namespace {} is not supported (3.3 in cfd/3, 4.0 in cfd/4)",
                                if cfd4 { "cfd/4" } else { "cfd/3" }
                            ),
                        )
                        .with_field("Comprobante@Version"))
                    }
                });
                }
                b"version" => {
                    let v = attr_text(input, a, "Comprobante@version")?;
                    legacy = Some(
                        ParseError::at(
                            input,
                            pos,
                            ErrorKind::Unsupported,
                            format!("CFDI {v} is not supported (only 3.3 and 4.0 are read)"),
                        )
                        .with_field("Comprobante@version"),
                    );
                }
                b"Serie" => serie = Some(attr_text(input, a, "Comprobante@Serie")?),
                b"Folio" => folio = Some(attr_text(input, a, "Comprobante@Folio")?),
                b"Fecha" => fecha = Some(parse_fecha(input, a, "Comprobante@Fecha")?),
                b"TipoDeComprobante" => {
                    let t = attr_text(input, a, "Comprobante@TipoDeComprobante")?;
                    tipo = Some(Tipo::parse(&t).ok_or_else(|| {
                        invalid(
                            input,
                            a,
                            "Comprobante@TipoDeComprobante",
                            format!("{t:?} is not one of I, E, T, N, P"),
                        )
                    })?);
                }
                b"Moneda" => moneda = Some(parse_currency(input, a, "Comprobante@Moneda")?),
                b"TipoCambio" => {
                    tipo_cambio = Some(parse_rate(input, a, "Comprobante@TipoCambio")?)
                }
                b"SubTotal" => subtotal = Some(parse_amount(input, a, "Comprobante@SubTotal")?),
                b"Descuento" => descuento = Some(parse_amount(input, a, "Comprobante@Descuento")?),
                b"Total" => total = Some(parse_amount(input, a, "Comprobante@Total")?),
                b"MetodoPago" => metodo_pago = Some(attr_text(input, a, "Comprobante@MetodoPago")?),
                b"FormaPago" => forma_pago = Some(attr_text(input, a, "Comprobante@FormaPago")?),
                b"LugarExpedicion" => {
                    lugar = Some(attr_text(input, a, "Comprobante@LugarExpedicion")?)
                }
                _ => {}
            }
            Ok(())
        })();
        if let Err(err) = r {
            first_err.get_or_insert(err);
        }
    }
    if let Some(l) = legacy {
        return Err(l);
    }
    if let Some(err) = first_err {
        return Err(err);
    }
    Ok(Cfdi {
        version: version.ok_or_else(|| missing("Version"))?,
        serie,
        folio,
        fecha: fecha.ok_or_else(|| missing("Fecha"))?,
        tipo: tipo.ok_or_else(|| missing("TipoDeComprobante"))?,
        moneda: moneda.ok_or_else(|| missing("Moneda"))?,
        tipo_cambio,
        subtotal: subtotal.ok_or_else(|| missing("SubTotal"))?,
        descuento,
        total: total.ok_or_else(|| missing("Total"))?,
        metodo_pago,
        forma_pago,
        lugar_expedicion: lugar,
        emisor: Party::default(),
        receptor: Party::default(),
        uuid: None,
        fecha_timbrado: None,
        relations: Vec::new(),
        pagos_version: None,
        pagos: Vec::new(),
    })
}
