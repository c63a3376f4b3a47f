//! The ETL example's orders (`examples/etl.rs`): the record, the machine generated from
//! `machines/etl.yaml` with the functions its states name, the rate table, a generator of source
//! rows (about 3% invalid), and the same work as a plain rusqlite loop (the benchmark's baseline).

use std::collections::BTreeMap;
use std::sync::Arc;

use fsm_runtime::{Context, FnError};
use serde::{Deserialize, Serialize};

#[allow(missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/etl.rs"));
}

pub use generated::{OrderEtl, OrderEtlEnd, OrderEtlFns, OrderEtlState};

/// A row of `orders` as read, then what the machine adds. The columns of `orders_clean` are `id`,
/// `customer`, `amount_eur` and `category`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order's key.
    pub id: i64,
    /// Who ordered; required.
    #[serde(default)]
    pub customer: Option<String>,
    /// The amount as text in the order's currency, e.g. `12.50`; must be a number with at most
    /// two decimals.
    #[serde(default)]
    pub amount: Option<String>,
    /// ISO currency code; must be in the rate table.
    #[serde(default)]
    pub currency: Option<String>,
    /// When the order was placed (not checked).
    #[serde(default)]
    pub created_at: Option<String>,
    /// Set by validation: the amount in hundredths of the currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_cents: Option<i64>,
    /// Set by conversion: the amount in euros, two decimals (`12.34`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_eur: Option<String>,
    /// Set by categorisation: `small`, `medium` or `large`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// Euros per unit of each currency, in millionths (`USD` -> 920000 for 0.92 EUR), as read from
/// the sink database's `rates` table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rates(pub BTreeMap<String, i64>);

/// The rates the example seeds its `rates` table with: (currency, euros per unit as text).
pub const DEFAULT_RATES: [(&str, &str); 5] = [
    ("EUR", "1"),
    ("USD", "0.92"),
    ("GBP", "1.17"),
    ("CHF", "1.05"),
    ("JPY", "0.0062"),
];

impl Rates {
    /// Reads `(currency, rate as decimal text)` pairs; a rate that is no positive decimal with at
    /// most six places is an error naming it.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Rates, String> {
        let mut rates = BTreeMap::new();
        for (currency, rate) in pairs {
            let micro = parse_fixed(rate, 6).filter(|m| *m > 0).ok_or_else(|| {
                format!("the rate of `{currency}` is `{rate}`, not a positive number with at most 6 decimals")
            })?;
            rates.insert(currency.to_string(), micro);
        }
        Ok(Rates(rates))
    }
}

/// `text` as an integer number of 10^-places units: `12.5` with 2 places is 1250. `None` when it
/// is not a plain decimal number with at most `places` decimals.
pub fn parse_fixed(text: &str, places: u32) -> Option<i64> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > places as usize {
        return None;
    }
    let scale = 10i64.checked_pow(places)?;
    let mut value = whole.parse::<i64>().ok()?.checked_mul(scale)?;
    if !fraction.is_empty() {
        let f: i64 = fraction.parse().ok()?;
        value = value.checked_add(f.checked_mul(10i64.pow(places - fraction.len() as u32))?)?;
    }
    Some(if negative { -value } else { value })
}

/// Validation: customer present, amount a number with at most two decimals, currency known.
/// Returns the change (the amount in cents) or the reason the order is invalid.
pub fn validate_change(order: &Order, rates: &Rates) -> Result<impl FnOnce(&mut Order) + use<>, String> {
    if order.customer.as_deref().is_none_or(|c| c.trim().is_empty()) {
        return Err("missing customer".to_string());
    }
    let amount = order.amount.as_deref().unwrap_or_default();
    let cents = parse_fixed(amount, 2).ok_or_else(|| format!("amount `{amount}` is not a number"))?;
    let currency = order.currency.as_deref().unwrap_or_default();
    if !rates.0.contains_key(currency) {
        return Err(format!("unknown currency `{currency}`"));
    }
    Ok(move |order: &mut Order| order.amount_cents = Some(cents))
}

/// Conversion: the amount in euro cents, rounded half away from zero, as `12.34`.
pub fn to_eur(order: &mut Order, rates: &Rates) {
    let cents = i128::from(order.amount_cents.unwrap_or_default());
    let rate = i128::from(
        order
            .currency
            .as_deref()
            .and_then(|c| rates.0.get(c))
            .copied()
            .unwrap_or_default(),
    );
    let product = cents * rate;
    let eur_cents = (product.abs() + 500_000) / 1_000_000 * product.signum();
    let sign = if eur_cents < 0 { "-" } else { "" };
    order.amount_eur = Some(format!("{sign}{}.{:02}", eur_cents.abs() / 100, eur_cents.abs() % 100));
}

/// Categorisation by the amount in euros.
pub fn categorize(order: &mut Order) {
    let eur_cents = order
        .amount_eur
        .as_deref()
        .and_then(|a| parse_fixed(a, 2))
        .unwrap_or_default();
    let category = if eur_cents < 100 * 100 {
        "small"
    } else if eur_cents < 1000 * 100 {
        "medium"
    } else {
        "large"
    };
    order.category = Some(category.to_string());
}

/// The functions `machines/etl.yaml` names, over a rate table.
#[derive(Clone, Debug, Default)]
pub struct Functions {
    /// The rates conversion uses and validation checks currencies against.
    pub rates: Arc<Rates>,
}

impl OrderEtlFns for Functions {
    fn validate(&self, data: &Order, _: &mut Context<'_>) -> Result<impl FnOnce(&mut Order) + use<>, FnError> {
        validate_change(data, &self.rates).map_err(FnError::from)
    }

    fn to_eur(&self, data: &mut Order, _: &mut Context<'_>) {
        to_eur(data, &self.rates);
    }

    fn categorize(&self, data: &mut Order, _: &mut Context<'_>) {
        categorize(data);
    }
}

/// The ETL machine over `rates`.
pub fn etl_machine(rates: Rates) -> OrderEtl<Functions> {
    OrderEtl::new(Functions { rates: Arc::new(rates) })
}

/// Source row `id` (from 1) of a generated `orders` table: about 3% invalid, one kind each when
/// `id % 100` is 7 (no customer), 42 (amount not a number) or 77 (unknown currency).
pub fn generated_order(id: i64) -> Order {
    const CURRENCIES: [&str; 5] = ["EUR", "USD", "GBP", "JPY", "CHF"];
    let bad = id.rem_euclid(100);
    Order {
        id,
        customer: (bad != 7).then(|| format!("customer-{:04}", id.rem_euclid(997))),
        amount: Some(if bad == 42 {
            "n/a".to_string()
        } else {
            format!("{}.{:02}", (id.wrapping_mul(7919)).rem_euclid(5000), id.rem_euclid(100))
        }),
        currency: Some(if bad == 77 {
            "XYZ".to_string()
        } else {
            CURRENCIES[id.rem_euclid(5) as usize].to_string()
        }),
        created_at: Some(format!(
            "2026-{:02}-{:02}T{:02}:{:02}:00Z",
            1 + id.rem_euclid(12),
            1 + id.rem_euclid(28),
            id.rem_euclid(24),
            id.rem_euclid(60)
        )),
        ..Order::default()
    }
}

/// Whether generated row `id` is valid.
pub fn generated_is_valid(id: i64) -> bool {
    ![7, 42, 77].contains(&id.rem_euclid(100))
}
