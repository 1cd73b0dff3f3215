//! The connector contract end to end: a kind from another crate (`connectors/toy`) is registered with one line,
//! configured in TOML (a number given as a string, as environment overrides arrive), built, run through the
//! daemon's runner into the ledger, doctored and described, with no line of the daemon naming it.

use super::helpers::{backends, fresh_db, test_settings};
use cuadra::app::App;
use cuadra_sdk::ConnectorKind;

const TOML: &str = "[connectors.toys]\nkind = \"toy\"\ncount = \"3\"\nprefix = \"Juguete\"\n";

/// The registration line: this build's kinds plus the toy.
fn kinds() -> Vec<&'static dyn ConnectorKind> {
    [
        cuadra::registry::connector_kinds(),
        vec![&cuadra_toy::ToyKind],
    ]
    .concat()
}

#[tokio::test]
async fn a_kind_from_its_own_crate_is_one_line() {
    for backend in backends().await {
        let db = fresh_db(backend).await;
        let settings = test_settings(&db, TOML);
        let unknown = App::build(settings.clone())
            .await
            .err()
            .expect("no toy kind");
        assert!(
            format!("{unknown:#}").contains("connectors.toys.kind: unknown kind \"toy\""),
            "{unknown:#}"
        );

        let app = App::build_with_kinds(settings, &kinds())
            .await
            .expect("app");
        let conn = app.connector("toys").expect("configured").clone();
        assert_eq!(conn.kind, "toy");
        assert_eq!(conn.default_schedule.as_deref(), Some("0 * * * * *"));
        let first = cuadra::daemon::run_source_once(&app, &conn)
            .await
            .expect("run");
        assert_eq!((first.deliveries, first.new), (3, 3), "{backend:?}");
        let again = cuadra::daemon::run_source_once(&app, &conn)
            .await
            .expect("run");
        assert_eq!((again.deliveries, again.new), (3, 0), "{backend:?}");
        assert_eq!(app.store.count("customers").await.expect("count"), 3);

        let kind = conn.of_kind.expect("built by a kind");
        let cp = app
            .store
            .checkpoint("toys")
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(
            kind.describe(&cuadra_sdk::Checkpoint(cp)),
            vec!["  pulls 2".to_string()]
        );
        let d = cuadra::registry::doctor_with(
            &app.settings,
            &kinds(),
            "toys",
            &app.settings.connectors["toys"],
            app.store.now(),
        );
        assert!(d.ok, "{d:?}");
        assert_eq!(
            d.lines,
            vec!["ok    toys: toy connector delivering 3 customers"]
        );
    }
}

#[tokio::test]
async fn its_settings_errors_name_the_key() {
    let db = fresh_db(super::helpers::Backend::Sqlite).await;
    let bad = TOML.replace("count = \"3\"", "count = \"many\"");
    let e = App::build_with_kinds(test_settings(&db, &bad), &kinds())
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{e:#}").contains("connectors.toys.count: "),
        "{e:#}"
    );
    let zero = TOML.replace("count = \"3\"", "count = 0");
    let e = App::build_with_kinds(test_settings(&db, &zero), &kinds())
        .await
        .err()
        .expect("refused");
    assert_eq!(
        format!("{e:#}"),
        "connectors.toys.count: expected at least 1"
    );
}
