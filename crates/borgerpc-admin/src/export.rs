//! Tables as files that Danish Excel opens as they are. A report (or a page's list) gives a
//! header of [`Column`]s and rows of typed [`Cell`]s, as a whole [`Table`] or one row at a
//! time ([`file_from_rows`], for an export of every PC); [`write_file`] turns them into a
//! file: CSV (UTF-8 with a byte-order mark, `;` between fields, CRLF line ends, decimal comma
//! or point, text that starts like a formula defused) or XLSX (rust_xlsxwriter: dates as
//! Excel dates, numbers as numbers, a bold frozen header, an autofilter, column widths, the
//! sheet named). The file is built in memory, so whoever makes one bounds its rows
//! ([`MAX_ROWS`]). The PC list and the security events use the same CSV writer through
//! [`excel_csv`].

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, XlsxError};

/// The most rows one exported table may have: the file is built in memory, and 250,000 rows of
/// nine cells took 400 MB at their peak (table and XLSX, release build), 100,000 about 160 MB.
/// A month of 3,000 PCs, one row per PC per day, fits.
pub(crate) const MAX_ROWS: usize = 100_000;

/// The XLSX media type.
pub(crate) const XLSX_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A text cell that a spreadsheet must not run: what starts like a formula gets a `'`.
pub(crate) fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// One typed cell.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Text(String),
    Int(i64),
    Number(f64),
    Date(NaiveDate),
    /// A local date and time (the report says in which zone), to the second.
    DateTime(NaiveDateTime),
    Empty,
}

/// A column: its header, its width in Excel's characters and the XLSX number format of its
/// numbers (dates always get [`DATE_FORMAT`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    pub(crate) name: &'static str,
    pub(crate) width: f64,
    pub(crate) number_format: Option<&'static str>,
}

impl Column {
    /// A column of text (or dates: their format is [`DATE_FORMAT`]).
    pub(crate) const fn text(name: &'static str, width: f64) -> Self {
        Column {
            name,
            width,
            number_format: None,
        }
    }

    /// A column of numbers shown with `format` (`"0"`, `"0.0%"`).
    pub(crate) const fn number(name: &'static str, width: f64, format: &'static str) -> Self {
        Column {
            name,
            width,
            number_format: Some(format),
        }
    }
}

/// The XLSX format of a date cell: as a Danish operator writes dates.
pub(crate) const DATE_FORMAT: &str = "dd-mm-yyyy";
/// The XLSX format of a date and time cell.
pub(crate) const DATETIME_FORMAT: &str = "dd-mm-yyyy hh:mm:ss";

/// A table to export: the sheet's name (at most 31 characters, none of `[]:*?/\`), the
/// columns and the rows (each as long as the columns).
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub(crate) sheet: &'static str,
    pub(crate) columns: &'static [Column],
    pub(crate) rows: Vec<Vec<Cell>>,
}

/// How the CSV writes a number's decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decimal {
    /// `0,75`: what Danish Excel reads as a number (the default).
    Comma,
    /// `0.75`: for tools that read numbers the C way.
    Point,
}

/// Which file: CSV for Danish Excel with its decimals, or XLSX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Csv(Decimal),
    Xlsx,
}

/// Why a file could not be written (a bug or a full temp disk, never the user's input).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("XLSX: {0}")]
    Xlsx(#[from] XlsxError),
    #[error("the file's writer stopped: {0}")]
    Stopped(String),
}

impl Table {
    /// The table as a file of `kind` (XLSX: a workbook of one sheet).
    pub(crate) fn file(&self, kind: FileKind) -> Result<Vec<u8>, ExportError> {
        write_file(kind, self.sheet, self.columns, &self.rows)
    }
}

/// Rows as a file of `kind`, each written as it comes: the one writer of both kinds, for a
/// whole [`Table`] and for rows streamed from the store ([`file_from_rows`]).
pub(crate) fn write_file<R: AsRef<[Cell]>>(
    kind: FileKind,
    sheet: &str,
    columns: &[Column],
    rows: impl IntoIterator<Item = R>,
) -> Result<Vec<u8>, ExportError> {
    match kind {
        FileKind::Csv(decimal) => {
            let mut w = csv_writer(columns.iter().map(|c| c.name))?;
            for r in rows {
                w.write_record(r.as_ref().iter().map(|c| csv_field(c, decimal)))?;
            }
            csv_finish(w)
        }
        FileKind::Xlsx => {
            let mut book = Workbook::new();
            add_sheet(&mut book, sheet, columns, rows)?;
            Ok(book.save_to_buffer()?)
        }
    }
}

/// How many rows may wait between the store reading them and the file's writer: enough
/// to keep both busy, few enough that an export of 100,000 rows never holds them all.
const ROWS_IN_FLIGHT: usize = 512;

/// A file written off the async workers from rows sent to it as the store reads them: send
/// each `T` (made into its cells by `row` on the writer's thread), drop the sender, then
/// await the file. A writer that failed stops taking rows, so the sender's `send` fails.
pub(crate) fn file_from_rows<T: Send + 'static>(
    kind: FileKind,
    sheet: &'static str,
    columns: &'static [Column],
    row: fn(T) -> Vec<Cell>,
) -> (
    tokio::sync::mpsc::Sender<T>,
    impl Future<Output = Result<Vec<u8>, ExportError>>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<T>(ROWS_IN_FLIGHT);
    let writing = tokio::task::spawn_blocking(move || {
        write_file(
            kind,
            sheet,
            columns,
            std::iter::from_fn(|| rx.blocking_recv().map(row)),
        )
    });
    let file = async move {
        writing
            .await
            .map_err(|e| ExportError::Stopped(e.to_string()))?
    };
    (tx, file)
}

/// A cell as its CSV field.
fn csv_field(c: &Cell, decimal: Decimal) -> String {
    match c {
        Cell::Text(s) => cell(s),
        Cell::Int(n) => n.to_string(),
        Cell::Number(x) => match decimal {
            Decimal::Point => x.to_string(),
            Decimal::Comma => x.to_string().replace('.', ","),
        },
        Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
        Cell::DateTime(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        Cell::Empty => String::new(),
    }
}

/// One sheet being written. It is made in rust_xlsxwriter's "constant memory" mode: each row
/// goes to a temporary file as soon as the next one starts (strings inline, not in a shared
/// table), where the standard mode held every cell until saving: 420 MB more than the table
/// for 100,000 rows of 21 cells.
struct SheetRows<'c> {
    sheet: rust_xlsxwriter::Worksheet,
    columns: &'c [Column],
    formats: Vec<Option<Format>>,
    date: Format,
    datetime: Format,
    /// Rows written but the header.
    rows: u32,
}

impl<'c> SheetRows<'c> {
    fn new(book: &mut Workbook, name: &str, columns: &'c [Column]) -> Result<Self, XlsxError> {
        let mut sheet = book.new_worksheet_with_constant_memory()?;
        sheet.set_name(name)?;
        let bold = Format::new().set_bold();
        for (i, c) in columns.iter().enumerate() {
            let col = col_num(i)?;
            sheet.write_string_with_format(0, col, c.name, &bold)?;
            sheet.set_column_width(col, c.width)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        Ok(SheetRows {
            sheet,
            columns,
            formats: columns
                .iter()
                .map(|c| c.number_format.map(|f| Format::new().set_num_format(f)))
                .collect(),
            date: Format::new().set_num_format(DATE_FORMAT),
            datetime: Format::new().set_num_format(DATETIME_FORMAT),
            rows: 0,
        })
    }

    fn row(&mut self, row: &[Cell]) -> Result<(), XlsxError> {
        let r = self
            .rows
            .checked_add(1)
            .ok_or(XlsxError::RowColumnLimitError)?;
        let sheet = &mut self.sheet;
        for (i, c) in row.iter().enumerate() {
            let col = col_num(i)?;
            let number = |sheet: &mut rust_xlsxwriter::Worksheet, x: f64| match &self.formats[i] {
                Some(f) => sheet.write_number_with_format(r, col, x, f).map(|_| ()),
                None => sheet.write_number(r, col, x).map(|_| ()),
            };
            match c {
                Cell::Text(s) => {
                    sheet.write_string(r, col, s)?;
                }
                // Every count a report has is far below 2^53, so exact as a double.
                Cell::Int(n) => number(sheet, *n as f64)?,
                Cell::Number(x) => number(sheet, *x)?,
                Cell::Date(d) => {
                    sheet.write_datetime_with_format(r, col, &excel_date(*d)?, &self.date)?;
                }
                Cell::DateTime(t) => {
                    let at = excel_date(t.date())?.and_hms(
                        t.hour() as u16,
                        t.minute() as u8,
                        t.second(),
                    )?;
                    sheet.write_datetime_with_format(r, col, &at, &self.datetime)?;
                }
                Cell::Empty => {}
            }
        }
        self.rows = r;
        Ok(())
    }

    /// The autofilter over what was written, and the sheet into `book`.
    fn finish(mut self, book: &mut Workbook) -> Result<(), XlsxError> {
        if !self.columns.is_empty() {
            self.sheet
                .autofilter(0, 0, self.rows, col_num(self.columns.len() - 1)?)?;
        }
        book.push_worksheet(self.sheet);
        Ok(())
    }
}

fn excel_date(d: NaiveDate) -> Result<ExcelDateTime, XlsxError> {
    ExcelDateTime::from_ymd(
        u16::try_from(d.year()).map_err(|_| XlsxError::DateTimeRangeError(format!("{d}")))?,
        d.month() as u8,
        d.day() as u8,
    )
}

/// Tables as one XLSX workbook, a sheet each in their order (each named by its table, so no
/// two may share a name): a report's count tables in one scheduled e-mail's file.
pub(crate) fn workbook(tables: &[Table]) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    for t in tables {
        add_sheet(&mut book, t.sheet, t.columns, &t.rows)?;
    }
    book.save_to_buffer()
}

/// The rows as the next sheet of `book`.
fn add_sheet<R: AsRef<[Cell]>>(
    book: &mut Workbook,
    sheet: &str,
    columns: &[Column],
    rows: impl IntoIterator<Item = R>,
) -> Result<(), XlsxError> {
    let mut s = SheetRows::new(book, sheet, columns)?;
    for r in rows {
        s.row(r.as_ref())?;
    }
    s.finish(book)
}

fn col_num(i: usize) -> Result<u16, XlsxError> {
    u16::try_from(i).map_err(|_| XlsxError::RowColumnLimitError)
}

/// The one CSV writer: byte-order mark, `;`, CRLF, the header written. Text cells must have
/// gone through [`cell`].
fn csv_writer<'a>(
    header: impl IntoIterator<Item = &'a str>,
) -> Result<csv::Writer<Vec<u8>>, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(csv::Terminator::CRLF)
        .from_writer(b"\xEF\xBB\xBF".to_vec());
    w.write_record(header)?;
    Ok(w)
}

fn csv_finish(w: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, ExportError> {
    w.into_inner()
        .map_err(|e| ExportError::Stopped(e.error().to_string()))
}

/// The header and rows as CSV bytes.
fn csv_bytes<'a, R, I>(
    header: impl IntoIterator<Item = &'a str>,
    rows: R,
) -> Result<Vec<u8>, ExportError>
where
    R: IntoIterator<Item = I>,
    I: IntoIterator<Item = String>,
{
    let mut w = csv_writer(header)?;
    for r in rows {
        w.write_record(r)?;
    }
    csv_finish(w)
}

/// A file as a download: `file_name` is made safe (ASCII letters, digits, `-`, `_`, `.`; any
/// other character becomes `_`) and gets `extension`.
pub(crate) fn download(
    file_name: &str,
    extension: &str,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response {
    let safe: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut res = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        body,
    )
        .into_response();
    let disposition = format!("attachment; filename=\"{safe}.{extension}\"");
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// The rows as a CSV download named `file_name` (without `.csv`); the rows' text cells must
/// have gone through [`cell`].
pub(crate) fn excel_csv<R, I>(
    file_name: &str,
    header: &[&str],
    rows: R,
) -> Result<Response, ExportError>
where
    R: IntoIterator<Item = I>,
    I: IntoIterator<Item = String>,
{
    let out = csv_bytes(header.iter().copied(), rows)?;
    Ok(download(file_name, "csv", "text/csv; charset=utf-8", out))
}

#[cfg(test)]
mod tests {
    use super::{Cell, Column, Decimal, FileKind, Table};
    use chrono::NaiveDate;

    const COLUMNS: &[Column] = &[
        Column::text("date", 12.0),
        Column::text("name", 20.0),
        Column::number("share", 8.0, "0.0%"),
    ];

    #[test]
    fn csv_is_for_danish_excel() {
        let t = Table {
            sheet: "t",
            columns: COLUMNS,
            rows: vec![vec![
                Cell::Date(NaiveDate::from_ymd_opt(2026, 3, 29).unwrap()),
                Cell::Text("=1+1;\"x\"".into()),
                Cell::Number(0.75),
            ]],
        };
        let comma = t.file(FileKind::Csv(Decimal::Comma)).unwrap();
        assert_eq!(
            comma,
            "\u{feff}date;name;share\r\n2026-03-29;\"'=1+1;\"\"x\"\"\";0,75\r\n".as_bytes()
        );
        let point = String::from_utf8(t.file(FileKind::Csv(Decimal::Point)).unwrap()).unwrap();
        assert!(point.ends_with(";0.75\r\n"), "{point}");
        assert!(t.file(FileKind::Xlsx).unwrap().starts_with(b"PK"));
    }
}
