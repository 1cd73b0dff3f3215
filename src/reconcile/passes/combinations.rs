//! A bounded exact subset-sum: whether exactly one combination of a customer's open balances is the amount.

/// Subset search bounds.
const SUBSET_MAX_INVOICES: usize = 40;
const SUBSET_MAX_SIZE: usize = 8;
const SUBSET_BUDGET: usize = 200_000;

#[derive(Debug, PartialEq)]
pub(in crate::reconcile) enum Subset {
    Unique(Vec<usize>),
    Several,
    None,
    TooLarge,
}

/// Bounded exact subset-sum: sizes 2..=SUBSET_MAX_SIZE over at most SUBSET_MAX_INVOICES amounts; stops at the
/// second solution or when the node budget is spent (then no answer is trusted).
pub(in crate::reconcile) fn subset(amounts: &[i64], target: i64) -> Subset {
    let n = amounts.len();
    if n < 2 {
        return Subset::None;
    }
    if n > SUBSET_MAX_INVOICES {
        return Subset::TooLarge;
    }
    let total: i64 = amounts.iter().sum();
    if total < target {
        return Subset::None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| amounts[b].cmp(&amounts[a]).then(a.cmp(&b)));
    let sorted: Vec<i64> = order.iter().map(|&i| amounts[i]).collect();
    let mut suffix = vec![0i64; n + 1];
    for i in (0..n).rev() {
        suffix[i] = suffix[i + 1] + sorted[i];
    }
    pub(in crate::reconcile) struct S<'a> {
        a: &'a [i64],
        suffix: &'a [i64],
        found: Vec<Vec<usize>>,
        nodes: usize,
        cur: Vec<usize>,
    }
    pub(in crate::reconcile) fn go(s: &mut S, start: usize, left: i64) -> bool {
        s.nodes += 1;
        if s.nodes > SUBSET_BUDGET {
            return false;
        }
        if left == 0 {
            if s.cur.len() >= 2 {
                s.found.push(s.cur.clone());
            }
            return s.found.len() < 2;
        }
        if s.cur.len() >= SUBSET_MAX_SIZE || start >= s.a.len() || s.suffix[start] < left {
            return true;
        }
        for i in start..s.a.len() {
            if s.a[i] > left {
                continue;
            }
            if s.suffix[i] < left {
                break;
            }
            s.cur.push(i);
            let cont = go(s, i + 1, left - s.a[i]);
            s.cur.pop();
            if !cont {
                return false;
            }
        }
        true
    }
    let mut s = S {
        a: &sorted,
        suffix: &suffix,
        found: vec![],
        nodes: 0,
        cur: vec![],
    };
    let complete = go(&mut s, 0, target);
    match s.found.len() {
        0 if complete => Subset::None,
        0 => Subset::TooLarge,
        1 if complete => Subset::Unique(s.found[0].iter().map(|&k| order[k]).collect()),
        1 => Subset::TooLarge,
        _ => Subset::Several,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_unique_several_none() {
        assert_eq!(subset(&[100, 200, 300], 500), Subset::Unique(vec![2, 1]));
        assert_eq!(subset(&[100, 200, 300, 400], 500), Subset::Several);
        assert_eq!(subset(&[100, 200], 250), Subset::None);
        assert_eq!(subset(&[100; 41], 200), Subset::TooLarge);
    }
}
