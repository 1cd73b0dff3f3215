//! Issue 19's classes of noise, the cases real receivables are made of: SPEI returns, double payments, corporate
//! groups, prepayments, cancel-and-substitute, the referencia numérica wherever the bank puts it, and compact
//! folio lists. Each case is decidable from the documents alone by a careful person; the invoices one case touches
//! share a `group` in the truth file so that `score` judges them together.

use super::noise::{clabe, folio_variant, strip_accents, truncate40};
use super::plan::{event_index, Credit, Invoice, Kind, Plan, Rng, EVENTS};

impl Plan {
    /// Customer-master changes the cases need, decided without the random generator so that a mix without them
    /// leaves every byte as before: corporate groups of three, and pairs of customers whose names differ only by
    /// the legal form.
    pub(crate) fn prepare_cases(&mut self, mix: &[f64; EVENTS]) {
        if mix[event_index("group")] > 0.0 {
            for (i, c) in self.customers.iter_mut().enumerate() {
                if i % 10 < 3 && !c.usd {
                    c.group = Some(i as u32 / 10);
                }
            }
        }
        if mix[event_index("refnum")] > 0.0 {
            for i in 1..self.customers.len() {
                if i % 16 != 9 || self.customers[i].usd || self.customers[i - 1].usd {
                    continue;
                }
                let words: Vec<&str> = self.customers[i - 1].name.split_whitespace().collect();
                let base = format!("{} {}", words[0], words.get(1).unwrap_or(&"HERMANOS"));
                self.customers[i - 1].name = format!("{base} SA DE CV");
                self.customers[i].name = format!("{base} S DE RL DE CV");
                self.customers[i - 1].twin = true;
                self.customers[i].twin = true;
            }
        }
    }

    fn new_group(&mut self) -> u32 {
        self.groups += 1;
        self.groups
    }

    fn known_payer(&self, r: &mut Rng, c: u32, cr: &mut Credit) {
        let cust = &self.customers[c as usize];
        cr.payer_name = truncate40(&strip_accents(&cust.name));
        cr.payer_account = Some(r.pick(&cust.accounts).clone());
    }

    fn mark(&mut self, inv: u32, kind: Kind, group: u32, paid: u64) {
        let v = &mut self.invoices[inv as usize];
        v.kind = kind;
        v.group = Some(group);
        v.paid += paid;
    }

    fn label(&self, inv: u32) -> String {
        let v = &self.invoices[inv as usize];
        format!("{}-{}", v.serie(), v.folio)
    }

    /// A new MXN invoice of customer `c` (appended, with the next folio).
    fn add_invoice(&mut self, r: &mut Rng, c: u32, day: u16, total: u64, kind: Kind) -> u32 {
        let folio = self.next_folio;
        self.next_folio += 1;
        self.invoices.push(Invoice {
            uuid: r.uuid(),
            usd: false,
            folio,
            customer: c,
            day,
            total,
            ppd: false,
            credit: 0,
            credit_uuid: None,
            paid: 0,
            kind,
            credits: Vec::new(),
            group: None,
            cancelled: None,
            replaces: None,
        });
        self.invoices.len() as u32 - 1
    }

    /// One case of issue 19's class `name`; false when the plan has nothing left to draw it from.
    pub(crate) fn case(&mut self, r: &mut Rng, name: &str, mxn: &[u32]) -> bool {
        if mxn.is_empty() {
            return false;
        }
        match name {
            "return" => self.spei_return(r, mxn),
            "double" => self.double(r, mxn),
            "group" => self.group_payment(r),
            "prepayment" => self.prepayment(r, mxn),
            "substitute" => self.substitute(r, mxn),
            "refnum" => self.refnum(r, mxn),
            "folio_list" => self.folio_list(r, mxn),
            _ => false,
        }
    }

    /// A credit returned a few days later by a debit with the same clave de rastreo (`RvslInd` on half of them,
    /// `DEVOLUCION ... RTRN` text on all); 60 % of the customers pay again later.
    fn spei_return(&mut self, r: &mut Rng, mxn: &[u32]) -> bool {
        let Some((c, invs)) = self.take(r, mxn, 1, false) else {
            return false;
        };
        let (i, g) = (invs[0], self.new_group());
        let (day, total) = {
            let v = &self.invoices[i as usize];
            (v.day + r.range(3, 30) as u16, v.total)
        };
        let mut a = self.new_credit(r, false, day, total, Kind::Return);
        self.known_payer(r, c, &mut a);
        a.concepto = format!("PAGO FACTURA {}", self.label(i));
        let rastreo = a.rastreo.clone();
        let (payer_name, payer_account) = (a.payer_name.clone(), a.payer_account.clone());
        // Pushed before the next credit is made: each credit's AcctSvcrRef comes from the count so far.
        self.credits.push(a);
        let d_d = day + r.range(1, 5) as u16;
        let mut d = self.new_credit(r, false, d_d, total, Kind::Returned);
        d.payer_name = payer_name;
        d.payer_account = payer_account;
        d.rastreo = rastreo.clone();
        d.debit = true;
        d.reversal = r.chance(0.5);
        d.concepto = format!(
            "{} {rastreo}",
            r.pick(&[
                "DEVOLUCION SPEI RTRN",
                "DEVOLUCION SPEI CUENTA BLOQUEADA RTRN",
                "RTRN DEVOLUCION DE TRANSFERENCIA"
            ])
        );
        self.credits.push(d);
        let mut paid = 0;
        if r.chance(0.6) {
            let d_b = day + r.range(6, 20) as u16;
            let mut b = self.new_credit(r, false, d_b, total, Kind::Return);
            self.known_payer(r, c, &mut b);
            b.concepto = if r.chance(0.5) {
                format!("PAGO FACTURA {}", self.label(i))
            } else {
                "PAGO".into()
            };
            b.pays.push((i, total));
            self.credits.push(b);
            paid = total;
        }
        self.mark(i, Kind::Return, g, paid);
        true
    }

    /// The same invoice paid twice, both transfers citing its folio, while another open invoice of the customer
    /// has the same amount (a monthly fee): the second transfer is a duplicate and pays nothing.
    fn double(&mut self, r: &mut Rng, mxn: &[u32]) -> bool {
        let Some((c, invs)) = self.take(r, mxn, 2, false) else {
            return false;
        };
        let (a, b, g) = (invs[0], invs[1], self.new_group());
        let total = self.invoices[a as usize].total;
        self.invoices[b as usize].total = total;
        let day = self.invoices[a as usize].day + r.range(3, 20) as u16;
        let cite = folio_variant(r, "A", self.invoices[a as usize].folio);
        let mut first = self.new_credit(r, false, day, total, Kind::Double);
        self.known_payer(r, c, &mut first);
        first.concepto = cite.clone();
        first.pays.push((a, total));
        self.credits.push(first);
        let later = day.max(self.invoices[b as usize].day) + r.range(1, 10) as u16;
        let mut second = self.new_credit(r, false, later, total, Kind::Double);
        self.known_payer(r, c, &mut second);
        second.concepto = cite;
        self.credits.push(second);
        self.mark(a, Kind::Double, g, total);
        self.mark(b, Kind::Double, g, 0);
        true
    }

    /// A member of a corporate group pays for a sister: a sister's invoice cited by folio, its own and a sister's
    /// in one transfer (`FACTURAS 1330 Y 1077`), or a sister's invoice with the sister's referencia numérica.
    fn group_payment(&mut self, r: &mut Rng) -> bool {
        let members: Vec<u32> = (0..self.customers.len() as u32)
            .filter(|&c| self.customers[c as usize].group.is_some())
            .collect();
        if members.is_empty() {
            return false;
        }
        let payer = *r.pick(&members);
        let grp = self.customers[payer as usize].group;
        let sisters: Vec<u32> = members
            .iter()
            .copied()
            .filter(|&s| s != payer && self.customers[s as usize].group == grp)
            .collect();
        if sisters.is_empty() {
            return false;
        }
        let sister = *r.pick(&sisters);
        let Some((_, theirs)) = self.take(r, &[sister], 1, false) else {
            return false;
        };
        let g = self.new_group();
        let how = r.below(3);
        let mut invs = theirs;
        if how == 1 {
            match self.take(r, &[payer], 1, false) {
                Some((_, own)) => invs.insert(0, own[0]),
                None => return false,
            }
        }
        let last = invs
            .iter()
            .map(|&i| self.invoices[i as usize].day)
            .max()
            .unwrap_or(0);
        let amount: u64 = invs.iter().map(|&i| self.invoices[i as usize].total).sum();
        let d_cr = last + r.range(3, 30) as u16;
        let mut cr = self.new_credit(r, false, d_cr, amount, Kind::Group);
        self.known_payer(r, payer, &mut cr);
        let sister_inv = *invs.last().unwrap_or(&0);
        cr.concepto = match how {
            0 => format!("PAGO FACTURA {}", self.label(sister_inv)),
            1 => format!(
                "FACTURAS {} Y {}",
                self.invoices[invs[0] as usize].folio, self.invoices[sister_inv as usize].folio
            ),
            _ => {
                cr.reference = Some(self.customers[sister as usize].reference.clone());
                "PAGO".into()
            }
        };
        for &i in &invs {
            let t = self.invoices[i as usize].total;
            cr.pays.push((i, t));
            self.mark(i, Kind::Group, g, t);
        }
        self.credits.push(cr);
        true
    }

    /// The money arrives 8–25 days before the invoice, for its exact amount.
    fn prepayment(&mut self, r: &mut Rng, mxn: &[u32]) -> bool {
        for _ in 0..4 {
            let Some((c, invs)) = self.take(r, mxn, 1, false) else {
                return false;
            };
            let i = invs[0];
            let (day, total) = (
                self.invoices[i as usize].day,
                self.invoices[i as usize].total,
            );
            let before = r.range(8, 25) as u16;
            if day < before {
                continue;
            }
            let g = self.new_group();
            let mut cr = self.new_credit(r, false, day - before, total, Kind::Prepayment);
            self.known_payer(r, c, &mut cr);
            cr.concepto = r
                .pick(&["ANTICIPO", "PAGO ANTICIPADO", "PAGO", "SPEI"])
                .to_string();
            cr.pays.push((i, total));
            self.credits.push(cr);
            self.mark(i, Kind::Prepayment, g, total);
            return true;
        }
        false
    }

    /// An invoice cancelled and replaced by a CFDI related 04 with the same amount, 2–30 days later; the payment
    /// (before or after the substitute) cites the cancelled folio, the substitute, or nothing. The substitute is
    /// what was paid.
    fn substitute(&mut self, r: &mut Rng, mxn: &[u32]) -> bool {
        let Some((c, invs)) = self.take(r, mxn, 1, false) else {
            return false;
        };
        let (old, g) = (invs[0], self.new_group());
        let (day, total) = (
            self.invoices[old as usize].day,
            self.invoices[old as usize].total,
        );
        let new_day = day + r.range(2, 30) as u16;
        let new = self.add_invoice(r, c, new_day, total, Kind::Substitute);
        self.invoices[new as usize].replaces = Some(old);
        self.invoices[old as usize].cancelled = Some(new_day);
        let pay_day = day + r.range(3, 40) as u16;
        let mut cr = self.new_credit(r, false, pay_day, total, Kind::Substitute);
        self.known_payer(r, c, &mut cr);
        cr.concepto = match r.below(5) {
            0 | 1 => format!("PAGO FACTURA {}", self.label(old)),
            2 if pay_day > new_day => format!("PAGO FACTURA {}", self.label(new)),
            _ => "PAGO".into(),
        };
        cr.pays.push((new, total));
        self.credits.push(cr);
        self.mark(old, Kind::Substitute, g, 0);
        self.mark(new, Kind::Substitute, g, total);
        true
    }

    /// A payer from an unknown account identified only by the referencia numérica (structured field, or a bare
    /// `REF 1000259` / `REFERENCIA:0001000259` token) under a name cut at 20 characters, or by its full name
    /// where another customer's name differs only by the legal form.
    fn refnum(&mut self, r: &mut Rng, mxn: &[u32]) -> bool {
        let twins: Vec<u32> = mxn
            .iter()
            .copied()
            .filter(|&c| self.customers[c as usize].twin)
            .collect();
        let how = r.below(4);
        let by_name = how == 3 && !twins.is_empty();
        let pool = if by_name { &twins[..] } else { mxn };
        let Some((c, invs)) = self.take(r, pool, 1, false) else {
            return false;
        };
        let (i, g) = (invs[0], self.new_group());
        let (day, total) = (
            self.invoices[i as usize].day,
            self.invoices[i as usize].total,
        );
        let d_cr = day + r.range(3, 30) as u16;
        let mut cr = self.new_credit(r, false, d_cr, total, Kind::Refnum);
        let cust = &self.customers[c as usize];
        let name = strip_accents(&cust.name);
        let reference = cust.reference.clone();
        cr.payer_account = Some(clabe(r, "127"));
        if by_name {
            cr.payer_name = truncate40(&name);
            cr.concepto = "PAGO".into();
        } else {
            cr.payer_name = name.chars().take(20).collect::<String>().trim_end().into();
            match how {
                0 | 3 => {
                    cr.reference = Some(reference);
                    cr.concepto = "PAGO".into();
                }
                1 => cr.concepto = format!("PAGO REF {reference}"),
                _ => cr.concepto = format!("REFERENCIA:{reference:0>10}"),
            }
        }
        cr.pays.push((i, total));
        self.credits.push(cr);
        self.mark(i, Kind::Refnum, g, total);
        true
    }

    /// Two or three invoices of one customer with consecutive folios and the same amount, paid in one transfer
    /// whose concepto lists them compactly (`FACT 1471/72`, `FACS 1246 AL 1248`, `DE LA 1346 A LA 1348`,
    /// `FACTS 1217-1219`), while one more invoice of the same amount stays open.
    fn folio_list(&mut self, r: &mut Rng, mxn: &[u32]) -> bool {
        let c = *r.pick(mxn);
        let k = r.range(2, 3) as usize;
        let g = self.new_group();
        let day = r.below(300) as u16;
        let sub = r.range(50_000, 25_000_000);
        let total = sub + (sub * 16 + 50) / 100;
        let open_first = r.chance(0.5);
        let mut paid = Vec::new();
        for n in 0..=k {
            let i = self.add_invoice(r, c, day, total, Kind::FolioList);
            let is_paid = if open_first { n > 0 } else { n < k };
            self.mark(i, Kind::FolioList, g, if is_paid { total } else { 0 });
            if is_paid {
                paid.push(i);
            }
        }
        let (f1, f2) = (
            self.invoices[paid[0] as usize].folio,
            self.invoices[paid[k - 1] as usize].folio,
        );
        let amount = total * k as u64;
        let d_cr = day + r.range(3, 30) as u16;
        let mut cr = self.new_credit(r, false, d_cr, amount, Kind::FolioList);
        self.known_payer(r, c, &mut cr);
        let short = if f1 / 100 == f2 / 100 {
            format!("{:02}", f2 % 100)
        } else {
            f2.to_string()
        };
        cr.concepto = match (k, r.below(4)) {
            (2, 0) => format!("FACT {f1}/{short}"),
            (_, 1) => format!("FACS {f1} AL {f2}"),
            (_, 2) => format!("PAGO DE LA {f1} A LA {f2}"),
            _ => format!("FACTS {f1}-{f2}"),
        };
        for &i in &paid {
            cr.pays.push((i, total));
        }
        self.credits.push(cr);
        true
    }
}
