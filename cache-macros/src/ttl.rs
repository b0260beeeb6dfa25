//! The `ttl` argument: a humantime string (`"90s"`, `"10m"`, `"1h30m"`) or whole seconds.
//!
//! Two humantime units are refused because they are read wrongly more often than not: `M`
//! (months, where minutes were meant: `"10M"` would live about 300 days) and years. A TTL is
//! also refused past [`MAX_TTL`] (30 days): a longer one is a mistake far more often than a
//! need. Each error says what to write instead.

use std::time::Duration;

use darling::FromMeta;
use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, ExprLit, Lit};

/// A checked, non-zero time to live.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ttl(pub(crate) Duration);

const EXPECTED: &str =
    "expected a duration such as \"90s\", \"10m\" or \"1h30m\", or an integer number of seconds";

/// The longest TTL the macros accept.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(30 * 86_400);

/// The units of a humantime duration (the letters after each number), in order.
fn units(text: &str) -> Vec<String> {
    let mut units = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c.is_alphabetic() {
            current.push(c);
        } else if !current.is_empty() {
            units.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        units.push(current);
    }
    units
}

/// Why a unit humantime accepts is refused, and what to write instead.
fn refused_unit(unit: &str) -> Option<String> {
    match unit {
        "M" => Some(
            "`M` means months in a humantime duration (\"10M\" is about 300 days); for minutes \
             write `m`, e.g. \"10m\""
                .to_owned(),
        ),
        "month" | "months" => Some(format!(
            "`{unit}` is not accepted in a `ttl` (a cache entry lives at most 30 days): write \
             days, e.g. \"30d\""
        )),
        "y" | "yr" | "yrs" | "year" | "years" => Some(format!(
            "`{unit}` (years) is not accepted in a `ttl` (a cache entry lives at most 30 days): \
             write days, e.g. \"30d\""
        )),
        _ => None,
    }
}

/// `duration` in the largest whole unit that writes it (for error messages).
fn describe(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs.is_multiple_of(86_400) {
        format!("{} days", secs / 86_400)
    } else if secs.is_multiple_of(3_600) {
        format!("{} hours", secs / 3_600)
    } else if secs > 86_400 {
        format!("{secs} seconds (about {} days)", secs / 86_400)
    } else {
        format!("{secs} seconds")
    }
}

impl Ttl {
    fn checked(duration: Duration, lit: &Lit) -> darling::Result<Self> {
        if duration.is_zero() {
            return Err(darling::Error::custom(
                "`ttl` must be greater than zero (leave it out to use the cache's default TTL)",
            )
            .with_span(lit));
        }
        if duration > MAX_TTL {
            return Err(darling::Error::custom(format!(
                "`ttl` is {}, over the maximum of 30 days (\"30d\") a cache entry may live; \
                 write a shorter TTL",
                describe(duration)
            ))
            .with_span(lit));
        }
        Ok(Self(duration))
    }

    /// Parses a humantime string, refusing the units of [`refused_unit`].
    fn parse_text(text: &str, lit: &Lit) -> darling::Result<Self> {
        if let Some(reason) = units(text).iter().find_map(|unit| refused_unit(unit)) {
            return Err(
                darling::Error::custom(format!("invalid `ttl` {text:?}: {reason}")).with_span(lit),
            );
        }
        match humantime::parse_duration(text.trim()) {
            Ok(duration) => Self::checked(duration, lit),
            Err(error) => Err(darling::Error::custom(format!(
                "invalid `ttl` {text:?}: {error}; {EXPECTED}"
            ))
            .with_span(lit)),
        }
    }

    /// A `core::time::Duration` expression.
    pub(crate) fn to_tokens(self) -> TokenStream {
        let secs = self.0.as_secs();
        let nanos = self.0.subsec_nanos();
        quote!(::core::time::Duration::new(#secs, #nanos))
    }
}

impl FromMeta for Ttl {
    fn from_word() -> darling::Result<Self> {
        Err(darling::Error::custom(
            "expected a value, such as `ttl = \"10m\"` or `ttl = 600`",
        ))
    }

    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        match expr {
            Expr::Lit(ExprLit { lit, .. }) => match lit {
                Lit::Str(text) => Self::parse_text(&text.value(), lit),
                Lit::Int(int) => {
                    let secs: u64 = int.base10_parse().map_err(|e| {
                        darling::Error::custom(format!("invalid `ttl`: {e}")).with_span(lit)
                    })?;
                    Self::checked(Duration::from_secs(secs), lit)
                }
                _ => {
                    Err(darling::Error::custom(format!("invalid `ttl`: {EXPECTED}")).with_span(lit))
                }
            },
            Expr::Group(group) => Self::from_expr(&group.expr),
            _ => Err(darling::Error::custom(format!("invalid `ttl`: {EXPECTED}")).with_span(expr)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tokens: TokenStream) -> darling::Result<Ttl> {
        Ttl::from_expr(&syn::parse2(tokens).unwrap())
    }

    #[test]
    fn accepts_humantime_and_seconds() {
        assert_eq!(parse(quote!("90s")).unwrap().0, Duration::from_secs(90));
        assert_eq!(parse(quote!("10m")).unwrap().0, Duration::from_secs(600));
        assert_eq!(parse(quote!("1h30m")).unwrap().0, Duration::from_secs(5400));
        assert_eq!(
            parse(quote!("250ms")).unwrap().0,
            Duration::from_millis(250)
        );
        assert_eq!(parse(quote!(42)).unwrap().0, Duration::from_secs(42));
    }

    #[test]
    fn accepts_up_to_thirty_days_in_any_other_unit() {
        assert_eq!(parse(quote!("30d")).unwrap().0, MAX_TTL);
        assert_eq!(
            parse(quote!("4w")).unwrap().0,
            Duration::from_secs(28 * 86_400)
        );
        assert_eq!(
            parse(quote!("2 days 3h")).unwrap().0.as_secs(),
            2 * 86_400 + 3 * 3_600
        );
        assert_eq!(parse(quote!("10 min")).unwrap().0, Duration::from_secs(600));
        assert_eq!(parse(quote!(2_592_000)).unwrap().0, MAX_TTL);
    }

    #[test]
    fn refuses_months_years_and_what_is_too_long() {
        let message = |tokens| parse(tokens).unwrap_err().to_string();
        let minutes = message(quote!("10M"));
        assert!(
            minutes.contains("months") && minutes.contains("\"10m\""),
            "{minutes}"
        );
        for text in ["1month", "2 months", "1y", "1 year", "2yrs"] {
            let error = message(quote!(#text));
            assert!(error.contains("\"30d\""), "{text}: {error}");
        }
        let long = message(quote!("31d"));
        assert!(
            long.contains("31 days") && long.contains("30 days"),
            "{long}"
        );
        assert!(message(quote!(2_592_001)).contains("30 days"));
        assert!(message(quote!("5w")).contains("35 days"));
    }

    #[test]
    fn rejects_zero_and_garbage() {
        assert!(parse(quote!("0s")).is_err());
        assert!(parse(quote!(0)).is_err());
        assert!(parse(quote!("ten minutes")).is_err());
        assert!(parse(quote!(1.5)).is_err());
        assert!(parse(quote!(-3)).is_err());
    }
}
