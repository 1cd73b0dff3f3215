//! Reading columns out of rows. A value that does not decode is an error naming the column, never a silent 0 or
//! empty text; NULL is `None` for the `opt_` readers and an error for the others unless the caller asks for a
//! default with `_or_default`.

use anyhow::Context;
use sqlx::any::AnyRow;
use sqlx::Row;

/// Typed, fallible column readers for the store's rows.
pub(crate) trait RowExt {
    /// A nullable text column.
    fn opt_text(&self, col: &str) -> anyhow::Result<Option<String>>;
    /// A text column; NULL is an error.
    fn text(&self, col: &str) -> anyhow::Result<String>;
    /// A text column; NULL reads as the empty text (for columns where empty and missing mean the same).
    fn text_or_default(&self, col: &str) -> anyhow::Result<String>;
    /// A nullable integer column.
    fn opt_int(&self, col: &str) -> anyhow::Result<Option<i64>>;
    /// An integer column; NULL is an error.
    fn int(&self, col: &str) -> anyhow::Result<i64>;
    /// A nullable binary column.
    fn opt_bytes(&self, col: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// A binary column; NULL is an error.
    fn bytes(&self, col: &str) -> anyhow::Result<Vec<u8>>;
    /// An integer column; NULL reads as 0 (sums over no rows).
    #[allow(dead_code)] // For reconcile's loading, which moves to these readers in its own part (issue 17).
    fn int_or_zero(&self, col: &str) -> anyhow::Result<i64>;
}

impl RowExt for AnyRow {
    fn opt_text(&self, col: &str) -> anyhow::Result<Option<String>> {
        self.try_get::<Option<String>, _>(col)
            .with_context(|| format!("column {col}: expected text"))
    }
    fn text(&self, col: &str) -> anyhow::Result<String> {
        self.opt_text(col)?
            .with_context(|| format!("column {col}: expected text, found NULL"))
    }
    fn text_or_default(&self, col: &str) -> anyhow::Result<String> {
        Ok(self.opt_text(col)?.unwrap_or_default())
    }
    fn opt_int(&self, col: &str) -> anyhow::Result<Option<i64>> {
        self.try_get::<Option<i64>, _>(col)
            .with_context(|| format!("column {col}: expected an integer"))
    }
    fn int(&self, col: &str) -> anyhow::Result<i64> {
        self.opt_int(col)?
            .with_context(|| format!("column {col}: expected an integer, found NULL"))
    }
    fn int_or_zero(&self, col: &str) -> anyhow::Result<i64> {
        Ok(self.opt_int(col)?.unwrap_or(0))
    }
    fn opt_bytes(&self, col: &str) -> anyhow::Result<Option<Vec<u8>>> {
        self.try_get::<Option<Vec<u8>>, _>(col)
            .with_context(|| format!("column {col}: expected bytes"))
    }
    fn bytes(&self, col: &str) -> anyhow::Result<Vec<u8>> {
        self.opt_bytes(col)?
            .with_context(|| format!("column {col}: expected bytes, found NULL"))
    }
}

#[cfg(test)]
mod tests {
    use super::RowExt;

    #[tokio::test]
    async fn errors_name_the_column() {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect("sqlite::memory:").await.unwrap();
        let row = sqlx::query("SELECT 'x' AS word, 7 AS n, NULL AS absent")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row.text("word").unwrap(), "x");
        assert_eq!(row.int("n").unwrap(), 7);
        assert_eq!(row.opt_text("absent").unwrap(), None);
        assert_eq!(row.text_or_default("absent").unwrap(), "");
        let err = row.int("word").unwrap_err();
        assert!(format!("{err:#}").contains("column word"), "{err:#}");
        let err = row.text("absent").unwrap_err();
        assert!(format!("{err:#}").contains("column absent"), "{err:#}");
        let err = row.int("missing").unwrap_err();
        assert!(format!("{err:#}").contains("column missing"), "{err:#}");
    }
}
