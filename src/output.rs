//! Rendering reports as an aligned table, CSV, JSON (an array of objects whose keys are the CSV header) or XLSX.

use crate::store::Table;
use anyhow::Context;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Xlsx,
}

/// Writes `table` to `output` (or stdout). `.xlsx` output files imply the xlsx format.
pub fn write(table: &Table, format: Format, output: Option<&Path>) -> anyhow::Result<()> {
    let format = match output.and_then(|p| p.extension()).and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("xlsx") => Format::Xlsx,
        _ => format,
    };
    if format == Format::Xlsx {
        let path = output.context("--format xlsx needs --output FILE.xlsx")?;
        return write_xlsx(table, path);
    }
    match output {
        Some(p) => {
            // Straight into the file: a large JSON or CSV report is never held whole in memory.
            let file = std::fs::File::create(p)
                .with_context(|| format!("cannot write {}", p.display()))?;
            let mut w = std::io::BufWriter::new(file);
            render_to(table, format, &mut w)
                .and_then(|()| w.flush().map_err(anyhow::Error::from))
                .with_context(|| format!("cannot write {}", p.display()))
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            render_to(table, format, &mut out)?;
            out.flush()?;
            Ok(())
        }
    }
}

/// Renders into `w`: CSV and JSON are written row by row, the aligned table as one text (its widths need every
/// row first).
fn render_to(table: &Table, format: Format, w: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        Format::Csv => {
            let mut c = csv::Writer::from_writer(w);
            c.write_record(&table.columns)?;
            for r in &table.rows {
                c.write_record(r)?;
            }
            c.flush()?;
            Ok(())
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *w, &json_rows(table))?;
            w.write_all(b"\n")?;
            Ok(())
        }
        Format::Table | Format::Xlsx => {
            let mut widths: Vec<usize> = table.columns.iter().map(|c| c.chars().count()).collect();
            for r in &table.rows {
                for (i, v) in r.iter().enumerate() {
                    if let Some(w) = widths.get_mut(i) {
                        *w = (*w).max(v.chars().count().min(60));
                    }
                }
            }
            let mut s = String::new();
            let line = |cells: Vec<&str>, s: &mut String| {
                let parts: Vec<String> = cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| {
                        let c: String = c.chars().take(60).collect();
                        format!("{c:<w$}")
                    })
                    .collect();
                s.push_str(parts.join("  ").trim_end());
                s.push('\n');
            };
            line(table.columns.clone(), &mut s);
            for r in &table.rows {
                line(r.iter().map(String::as_str).collect(), &mut s);
            }
            Ok(w.write_all(s.as_bytes())?)
        }
    }
}

pub fn render(table: &Table, format: Format) -> anyhow::Result<Vec<u8>> {
    let mut v = Vec::new();
    render_to(table, format, &mut v)?;
    Ok(v)
}

fn write_xlsx(table: &Table, path: &Path) -> anyhow::Result<()> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (c, name) in table.columns.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *name, &bold)?;
    }
    for (r, row) in table.rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            // Exact text: a spreadsheet float would lose the decimal the ledger holds.
            ws.write_string(r as u32 + 1, c as u16, v)?;
        }
    }
    wb.save(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// A table's rows as a JSON array of objects, serialized row by row: keys in the order a `serde_json::Map`
/// keeps them (as when each row was built as a map).
fn json_rows(table: &Table) -> JsonRows<'_> {
    let template: serde_json::Map<String, serde_json::Value> = table
        .columns
        .iter()
        .map(|c| (c.to_string(), serde_json::Value::Null))
        .collect();
    let order: Vec<usize> = template
        .keys()
        .filter_map(|k| table.columns.iter().position(|c| c == k))
        .collect();
    JsonRows { table, order }
}

struct JsonRows<'a> {
    table: &'a Table,
    order: Vec<usize>,
}

impl serde::Serialize for JsonRows<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.table.rows.len()))?;
        for row in &self.table.rows {
            seq.serialize_element(&JsonRow {
                columns: &self.table.columns,
                row,
                order: &self.order,
            })?;
        }
        seq.end()
    }
}

struct JsonRow<'a> {
    columns: &'a [&'a str],
    row: &'a [String],
    order: &'a [usize],
}

impl serde::Serialize for JsonRow<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.order.len()))?;
        for &i in self.order {
            map.serialize_entry(self.columns[i], self.row.get(i).map_or("", String::as_str))?;
        }
        map.end()
    }
}
