//! The `ttl` argument: a humantime string (`"90s"`, `"10m"`, `"1h30m"`) or whole seconds.

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

impl Ttl {
    fn checked(duration: Duration, lit: &Lit) -> darling::Result<Self> {
        if duration.is_zero() {
            return Err(darling::Error::custom(
                "`ttl` must be greater than zero (leave it out to use the cache's default TTL)",
            )
            .with_span(lit));
        }
        Ok(Self(duration))
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
                Lit::Str(text) => match humantime::parse_duration(text.value().trim()) {
                    Ok(duration) => Self::checked(duration, lit),
                    Err(error) => Err(darling::Error::custom(format!(
                        "invalid `ttl` {:?}: {error}; {EXPECTED}",
                        text.value()
                    ))
                    .with_span(lit)),
                },
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
    fn rejects_zero_and_garbage() {
        assert!(parse(quote!("0s")).is_err());
        assert!(parse(quote!(0)).is_err());
        assert!(parse(quote!("ten minutes")).is_err());
        assert!(parse(quote!(1.5)).is_err());
        assert!(parse(quote!(-3)).is_err());
    }
}
