//! Cron expressions: users write the usual five fields (`0 6 * * *`) or six with seconds first; the scheduler
//! wants six. Schedules run in UTC.

/// Five fields get a leading `0` seconds field; six or seven pass as they are.
pub fn to_six_fields(expr: &str) -> String {
    let n = expr.split_whitespace().count();
    if n == 5 {
        format!("0 {}", expr.trim())
    } else {
        expr.trim().to_string()
    }
}

/// Checks a cron expression.
pub fn validate_cron(expr: &str) -> Result<(), String> {
    let six = to_six_fields(expr);
    let n = six.split_whitespace().count();
    if !(6..=7).contains(&n) {
        return Err(format!(
            "expected a cron expression of 5 fields (minute hour day month weekday), found {expr:?}"
        ));
    }
    croner::Cron::new(&six)
        .with_seconds_required()
        .parse()
        .map(|_| ())
        .map_err(|e| format!("invalid cron expression {expr:?}: {e}"))
}
