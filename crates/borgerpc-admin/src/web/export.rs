//! Lists as CSV files that Danish Excel opens as they are: UTF-8 with a byte-order mark, `;`
//! between fields, CRLF line ends, and text that starts like a formula defused. The PC list
//! and the security events export through here, so every export reads the same way.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// A text cell that a spreadsheet must not run: what starts like a formula gets a `'`.
pub(super) fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// The file as a download named `file_name` (ASCII, without `.csv`); the rows' text cells
/// must have gone through [`cell`].
pub(super) fn excel_csv<R, I>(
    file_name: &str,
    header: &[&str],
    rows: R,
) -> Result<Response, csv::Error>
where
    R: IntoIterator<Item = I>,
    I: IntoIterator<Item = String>,
{
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::WriterBuilder::new()
            .delimiter(b';')
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        w.write_record(header)?;
        for r in rows {
            w.write_record(r)?;
        }
        w.flush()?;
    }
    let mut res = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        out,
    )
        .into_response();
    let disposition = format!("attachment; filename=\"{file_name}.csv\"");
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}
