//! The customer master: reading the files lives in its own crate (`connectors/customers`, the `customers` file
//! family, with no storage in it); re-exported here for `cuadra import customers`. The ledger side (upserting
//! customers by RFC or ERP id) is the store's.

pub use cuadra_customers::{delivery, parse_file, CustomerRow, CustomersImporter, ParsedCustomers};
