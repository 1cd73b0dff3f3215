//! The scenario in memory: customers, invoices, bank credits and REPs, decided up front from one seeded random
//! generator so that the same seed always gives the same files. Money is in integer cents.

use super::noise::{
    clabe, customer_rfc, folio_variant, name_variant, rfc_with_check, strip_accents, truncate40,
    typo, ACTIVITIES, BANKS, PEOPLE, REGIONS, SURNAMES,
};

/// xorshift64*: small, fast and the same on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    pub fn uuid(&mut self) -> String {
        let h = format!("{:016X}{:016X}", self.next(), self.next());
        format!(
            "{}-{}-4{}-8{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }
}

/// What happened to an invoice (or, for credits that pay none, to the money).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Open,
    Decoy,
    Exact,
    Reference,
    Combined,
    Partial,
    NameVariant,
    ThirdParty,
    Typo,
    CreditNote,
    Usd,
    Overlap,
    Interest,
    OwnTransfer,
    Refund,
    Stranger,
    // Issue 19's classes (shares 0 by default, so existing seeds write the same bytes).
    Return,
    Returned,
    Double,
    Group,
    Prepayment,
    Substitute,
    Refnum,
    FolioList,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Open => "open",
            Kind::Decoy => "decoy",
            Kind::Exact => "exact",
            Kind::Reference => "reference",
            Kind::Combined => "combined",
            Kind::Partial => "partial",
            Kind::NameVariant => "name_variant",
            Kind::ThirdParty => "third_party",
            Kind::Typo => "typo",
            Kind::CreditNote => "credit_note",
            Kind::Usd => "usd",
            Kind::Overlap => "overlap",
            Kind::Interest => "interest",
            Kind::OwnTransfer => "own_transfer",
            Kind::Refund => "refund",
            Kind::Stranger => "stranger",
            Kind::Return => "return",
            Kind::Returned => "returned",
            Kind::Double => "double",
            Kind::Group => "group",
            Kind::Prepayment => "prepayment",
            Kind::Substitute => "substitute",
            Kind::Refnum => "refnum",
            Kind::FolioList => "folio_list",
        }
    }
    /// Kinds a payment event can be drawn as (the `--mix` keys); `unrelated` covers the four credits that pay
    /// no invoice. The last seven are issue 19's classes (default share 0).
    pub const EVENTS: [&'static str; EVENTS] = [
        "exact",
        "reference",
        "combined",
        "partial",
        "name_variant",
        "third_party",
        "typo",
        "credit_note",
        "usd",
        "overlap",
        "unrelated",
        "return",
        "double",
        "group",
        "prepayment",
        "substitute",
        "refnum",
        "folio_list",
    ];
}

/// How many kinds of payment event there are (the `--mix` keys).
pub const EVENTS: usize = 18;

/// Default share of each payment event (the first eleven sum to 1; issue 19's classes are off).
pub const DEFAULT_MIX: [f64; EVENTS] = [
    0.30, 0.12, 0.08, 0.10, 0.08, 0.05, 0.05, 0.05, 0.04, 0.05, 0.08, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0,
];

/// The `--mix` index of a kind name.
pub fn event_index(name: &str) -> usize {
    Kind::EVENTS.iter().position(|e| *e == name).unwrap_or(0)
}

pub struct Customer {
    pub rfc: String,
    pub name: String,
    pub accounts: Vec<String>,
    pub reference: String,
    pub usd: bool,
    pub invoices: Vec<u32>,
    pub(crate) cursor: usize,
    /// Corporate group (the `group` column), when group noise is on.
    pub group: Option<u32>,
    /// Another customer's name differs from this one's only by the legal form.
    pub twin: bool,
}

pub struct Invoice {
    pub uuid: String,
    pub usd: bool,
    pub folio: u32,
    pub customer: u32,
    pub day: u16,
    pub total: u64,
    pub ppd: bool,
    /// Credit note amount (E rel 01), 0 when none.
    pub credit: u64,
    pub credit_uuid: Option<String>,
    pub paid: u64,
    pub kind: Kind,
    pub credits: Vec<u32>,
    /// Issue 19's cases: the invoices one case touches share a group (scored together).
    pub group: Option<u32>,
    /// Cancelled at SAT on this day (written in `cfdi/metadata.txt`).
    pub cancelled: Option<u16>,
    /// The invoice this one substitutes (CfdiRelacionados TipoRelacion 04).
    pub replaces: Option<u32>,
}

impl Invoice {
    pub fn serie(&self) -> &'static str {
        if self.usd {
            "D"
        } else {
            "A"
        }
    }
}

/// One credit on a company bank statement.
pub struct Credit {
    pub usd: bool,
    pub day: u16,
    pub amount: u64,
    pub payer_name: String,
    pub payer_account: Option<String>,
    pub rastreo: String,
    pub asr: String,
    pub concepto: String,
    pub reference: Option<String>,
    pub kind: Kind,
    pub pays: Vec<(u32, u64)>,
    /// Also written in the next statement file (overlap).
    pub duplicate: bool,
    /// A debit returning an earlier credit (same clave de rastreo); `reversal` also marks it `RvslInd`.
    pub debit: bool,
    pub reversal: bool,
}

/// A REP (Pagos 2.0) for one partial payment.
pub struct Rep {
    pub uuid: String,
    pub credit: u32,
    pub invoice: u32,
    pub parcialidad: u32,
    pub saldo_ant: u64,
}

pub struct Plan {
    pub seed: u64,
    pub company_rfc: String,
    pub company_name: String,
    pub company_accounts: [String; 3],
    pub customers: Vec<Customer>,
    pub invoices: Vec<Invoice>,
    pub credits: Vec<Credit>,
    pub reps: Vec<Rep>,
    pub skipped_events: u64,
    /// The next folio of serie A (cases add invoices after the first draw).
    pub(crate) next_folio: u32,
    pub(crate) groups: u32,
}

/// Payment events to draw and their shares.
pub struct Options {
    pub seed: u64,
    pub invoices: u64,
    pub customers: u64,
    pub payments: u64,
    pub mix: [f64; EVENTS],
}

impl Plan {
    pub fn build(o: &Options) -> Plan {
        let mut r = Rng::new(o.seed);
        let company_name = "CUADRA DEMOSTRACIONES SA DE CV".to_string();
        let company_rfc = rfc_with_check("CDE240101A1");
        let company_accounts = [
            clabe(&mut r, "012"),
            clabe(&mut r, "012"),
            clabe(&mut r, "014"),
        ];
        let n_cust = o.customers.max(3);
        let mut customers = Vec::with_capacity(n_cust as usize);
        for i in 0..n_cust as usize {
            let (a, b, c, d) = (i % 40, (i / 40) % 40, (i / 1600) % 8, (i / 12800) % 10);
            let mut name = format!(
                "{} {} {} {}",
                SURNAMES[a],
                SURNAMES[(a + b + 1) % 40],
                ACTIVITIES[c],
                REGIONS[d]
            );
            if i >= 128_000 {
                name = format!("{name} {}", i / 128_000);
            }
            name.push_str(" SA DE CV");
            let rfc = customer_rfc(&mut r, i, &name);
            // One customer in 20 pays in dollars, from a dollar account.
            let usd = i % 20 == 7;
            let n_acc = if usd { 1 } else { 1 + r.below(2) as usize };
            let accounts = (0..n_acc)
                .map(|_| {
                    let bank = *r.pick(&BANKS);
                    clabe(&mut r, bank)
                })
                .collect();
            customers.push(Customer {
                rfc,
                name,
                accounts,
                reference: format!("{:07}", 1_000_000 + (i as u64 * 7919) % 9_000_000),
                usd,
                invoices: Vec::new(),
                cursor: 0,
                group: None,
                twin: false,
            });
        }
        let usd_customers: Vec<u32> = (0..n_cust as u32)
            .filter(|&c| customers[c as usize].usd)
            .collect();
        let mxn_customers: Vec<u32> = (0..n_cust as u32)
            .filter(|&c| !customers[c as usize].usd)
            .collect();
        let n = o.invoices.max(1);
        let mut invoices = Vec::with_capacity(n as usize);
        let (mut folio_a, mut folio_d) = (1000u32, 1u32);
        for i in 0..n {
            let usd = !usd_customers.is_empty() && r.below(25) == 0;
            let customer = if usd {
                *r.pick(&usd_customers)
            } else {
                *r.pick(&mxn_customers)
            };
            let folio = if usd {
                folio_d += 1;
                folio_d
            } else {
                folio_a += 1;
                folio_a
            };
            let sub = if usd {
                r.range(20_000, 2_000_000)
            } else {
                r.range(50_000, 25_000_000)
            };
            let total = sub + (sub * 16 + 50) / 100;
            customers[customer as usize].invoices.push(i as u32);
            invoices.push(Invoice {
                uuid: r.uuid(),
                usd,
                folio,
                customer,
                day: (i * 300 / n) as u16,
                total,
                ppd: r.chance(0.6),
                credit: 0,
                credit_uuid: None,
                paid: 0,
                kind: Kind::Open,
                credits: Vec::new(),
                group: None,
                cancelled: None,
                replaces: None,
            });
        }
        let mut plan = Plan {
            seed: o.seed,
            company_rfc,
            company_name,
            company_accounts,
            customers,
            invoices,
            credits: Vec::new(),
            reps: Vec::new(),
            skipped_events: 0,
            next_folio: folio_a + 1,
            groups: 0,
        };
        plan.prepare_cases(&o.mix);
        let total_share: f64 = o.mix.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        let mut made = 0u64;
        let mut guard = 0u64;
        while made < o.payments && guard < o.payments * 4 + 16 {
            guard += 1;
            let mut x = (r.next() >> 11) as f64 / (1u64 << 53) as f64 * total_share;
            let mut ev = 0;
            for (i, s) in o.mix.iter().enumerate() {
                if x < *s {
                    ev = i;
                    break;
                }
                x -= s;
                // Rounding past the end falls on the last kind with a share (as before: `unrelated` when the
                // newer kinds are off).
                if i < 11 || *s > 0.0 {
                    ev = i;
                }
            }
            let before = plan.credits.len();
            let ok = plan.event(&mut r, ev, &mxn_customers, &usd_customers);
            if ok {
                made += (plan.credits.len() - before) as u64;
            } else {
                plan.skipped_events += 1;
            }
        }
        // Statements list credits by date: sort, then rebuild the REP → credit and invoice → credit links.
        let rep_asr: Vec<String> = plan
            .reps
            .iter()
            .map(|rp| plan.credits[rp.credit as usize].asr.clone())
            .collect();
        plan.credits.sort_by_key(|c| c.day);
        let by_asr: std::collections::HashMap<&str, u32> = plan
            .credits
            .iter()
            .enumerate()
            .map(|(i, c)| (c.asr.as_str(), i as u32))
            .collect();
        let remapped: Vec<u32> = rep_asr.iter().map(|a| by_asr[a.as_str()]).collect();
        for (rp, ci) in plan.reps.iter_mut().zip(remapped) {
            rp.credit = ci;
        }
        for (ci, c) in plan.credits.iter().enumerate() {
            for (inv, _) in &c.pays {
                plan.invoices[*inv as usize].credits.push(ci as u32);
            }
        }
        plan
    }

    pub(crate) fn take(
        &mut self,
        r: &mut Rng,
        pool: &[u32],
        k: usize,
        ppd: bool,
    ) -> Option<(u32, Vec<u32>)> {
        for _ in 0..8 {
            let c = *r.pick(pool);
            let invoices = &self.invoices;
            let cust = &mut self.customers[c as usize];
            while cust.cursor < cust.invoices.len()
                && invoices[cust.invoices[cust.cursor] as usize].kind != Kind::Open
            {
                cust.cursor += 1;
            }
            let got: Vec<u32> = cust.invoices[cust.cursor..]
                .iter()
                .copied()
                .filter(|&i| {
                    invoices[i as usize].kind == Kind::Open && (!ppd || invoices[i as usize].ppd)
                })
                .take(k)
                .collect();
            if got.len() == k {
                return Some((c, got));
            }
        }
        None
    }

    pub(crate) fn new_credit(
        &mut self,
        r: &mut Rng,
        usd: bool,
        day: u16,
        amount: u64,
        kind: Kind,
    ) -> Credit {
        let seq = self.credits.len() + self.reps.len();
        let bank = *r.pick(&BANKS);
        Credit {
            usd,
            day: day.min(420),
            amount,
            payer_name: String::new(),
            payer_account: None,
            rastreo: format!("{bank}{}{seq:010}", r.digits(6)),
            asr: format!("{}{:010}", if usd { "USD" } else { "MXN" }, seq),
            concepto: String::new(),
            reference: None,
            kind,
            pays: Vec::new(),
            duplicate: false,
            debit: false,
            reversal: false,
        }
    }

    fn event(&mut self, r: &mut Rng, ev: usize, mxn: &[u32], usd: &[u32]) -> bool {
        let kind = match Kind::EVENTS[ev] {
            "exact" => Kind::Exact,
            "reference" => Kind::Reference,
            "combined" => Kind::Combined,
            "partial" => Kind::Partial,
            "name_variant" => Kind::NameVariant,
            "third_party" => Kind::ThirdParty,
            "typo" => Kind::Typo,
            "credit_note" => Kind::CreditNote,
            "usd" => Kind::Usd,
            "overlap" => Kind::Overlap,
            "unrelated" => return self.unrelated(r),
            other => return self.case(r, other, mxn),
        };
        let pool = if kind == Kind::Usd { usd } else { mxn };
        if pool.is_empty() {
            return false;
        }
        let k = if kind == Kind::Combined {
            r.range(2, 4) as usize
        } else {
            1
        };
        let Some((c, invs)) = self.take(r, pool, k, kind == Kind::Partial) else {
            return false;
        };
        let last_day = invs
            .iter()
            .map(|&i| self.invoices[i as usize].day)
            .max()
            .unwrap_or(0);
        let day = last_day + r.range(3, 40) as u16;
        let cust_name = self.customers[c as usize].name.clone();
        let known = self.customers[c as usize].accounts.clone();
        let bank_name = truncate40(&strip_accents(&cust_name));
        let first = &self.invoices[invs[0] as usize];
        let folio_text = format!("{}-{}", first.serie(), first.folio);
        let (serie, folio, total, is_usd) = (first.serie(), first.folio, first.total, first.usd);
        match kind {
            Kind::Partial => {
                let part1 = total * r.range(30, 70) / 100;
                let parts = if r.chance(0.5) {
                    vec![part1, total - part1]
                } else {
                    vec![part1]
                };
                let mut saldo = total;
                let mut d = day;
                for (p, amount) in parts.into_iter().enumerate() {
                    let mut cr = self.new_credit(r, false, d, amount, kind);
                    cr.payer_name = bank_name.clone();
                    cr.payer_account = Some(r.pick(&known).clone());
                    cr.concepto = if r.chance(0.5) {
                        format!("ABONO FACTURA {folio_text}")
                    } else {
                        "PAGO PARCIAL".into()
                    };
                    cr.pays.push((invs[0], amount));
                    self.reps.push(Rep {
                        uuid: r.uuid(),
                        credit: self.credits.len() as u32,
                        invoice: invs[0],
                        parcialidad: p as u32 + 1,
                        saldo_ant: saldo,
                    });
                    saldo -= amount;
                    self.invoices[invs[0] as usize].paid += amount;
                    self.credits.push(cr);
                    d += r.range(10, 30) as u16;
                }
                self.invoices[invs[0] as usize].kind = kind;
                return true;
            }
            Kind::CreditNote => {
                let credit = total * r.range(5, 20) / 100;
                let inv = &mut self.invoices[invs[0] as usize];
                inv.credit = credit;
                inv.credit_uuid = Some(r.uuid());
            }
            _ => {}
        }
        let amount: u64 = invs
            .iter()
            .map(|&i| self.invoices[i as usize].total - self.invoices[i as usize].credit)
            .sum();
        let mut cr = self.new_credit(r, is_usd, day, amount, kind);
        cr.payer_name = bank_name.clone();
        cr.payer_account = Some(r.pick(&known).clone());
        match kind {
            Kind::Exact | Kind::Overlap | Kind::Usd | Kind::CreditNote => {
                cr.concepto = r
                    .pick(&["PAGO", "PAGO PROVEEDOR", "SPEI", "TRANSFERENCIA"])
                    .to_string();
                cr.duplicate = kind == Kind::Overlap;
            }
            Kind::Reference => {
                cr.concepto = folio_variant(r, serie, folio);
                cr.reference = Some(self.customers[c as usize].reference.clone());
            }
            Kind::Combined => {
                let list: Vec<String> = invs
                    .iter()
                    .map(|&i| {
                        let v = &self.invoices[i as usize];
                        format!("{}{}", v.serie(), v.folio)
                    })
                    .collect();
                cr.concepto = if r.chance(0.5) {
                    format!("FACTS {}", list.join(" "))
                } else {
                    "PAGO FACTURAS".into()
                };
            }
            Kind::NameVariant => {
                cr.payer_account = Some(clabe(r, "127"));
                cr.payer_name = name_variant(r, &cust_name);
                cr.concepto = "PAGO".into();
            }
            Kind::ThirdParty => {
                cr.payer_account = Some(clabe(r, "072"));
                cr.payer_name = format!("FACTORAJE {} SA DE CV", r.pick(&SURNAMES));
                cr.concepto = format!("PAGO FACTURA {folio_text} POR CUENTA DE CLIENTE");
            }
            Kind::Typo => {
                cr.concepto = format!("PAGO FACTURA {serie}-{}", typo(r, folio));
            }
            _ => {}
        }
        for &i in &invs {
            let v = &mut self.invoices[i as usize];
            v.paid = v.total - v.credit;
            v.kind = kind;
            cr.pays.push((i, v.paid));
        }
        self.credits.push(cr);
        true
    }

    /// Credits that pay no invoice: interest, own transfers, refunds and a stranger paying an amount equal to some
    /// open invoice.
    fn unrelated(&mut self, r: &mut Rng) -> bool {
        let which = r.below(4);
        let day = r.below(330) as u16;
        let mut cr = self.new_credit(r, false, day, 0, Kind::Interest);
        match which {
            0 => {
                cr.amount = r.range(100, 50_000);
                cr.payer_name = "BANCO MERCANTIL".into();
                cr.concepto = "INTERESES GANADOS".into();
            }
            1 => {
                cr.kind = Kind::OwnTransfer;
                cr.amount = r.range(1_000_000, 500_000_000);
                cr.payer_name = self.company_name.clone();
                cr.payer_account = Some(self.company_accounts[2].clone());
                cr.concepto = "TRASPASO ENTRE CUENTAS PROPIAS".into();
            }
            2 => {
                cr.kind = Kind::Refund;
                cr.amount = r.range(10_000, 5_000_000);
                cr.payer_name = format!("PROVEEDORA {} SA DE CV", r.pick(&SURNAMES));
                cr.payer_account = Some(clabe(r, "014"));
                cr.concepto = "DEVOLUCION POR NOTA DE CREDITO".into();
            }
            _ => {
                // The decoy is chosen among invoices that nobody pays: later events may still pay it, so retry.
                let mut target = None;
                for _ in 0..16 {
                    let i = r.below(self.invoices.len() as u64) as usize;
                    let v = &self.invoices[i];
                    if v.kind == Kind::Open && !v.usd {
                        target = Some(i);
                        break;
                    }
                }
                let Some(i) = target else { return false };
                self.invoices[i].kind = Kind::Decoy;
                cr.kind = Kind::Stranger;
                cr.amount = self.invoices[i].total;
                cr.day = self.invoices[i].day + r.range(1, 30) as u16;
                cr.payer_name = r.pick(&PEOPLE).to_string();
                cr.payer_account = Some(clabe(r, "137"));
                cr.concepto = r.pick(&["PAGO", "DEPOSITO", "ANTICIPO"]).to_string();
            }
        }
        self.credits.push(cr);
        true
    }
}
