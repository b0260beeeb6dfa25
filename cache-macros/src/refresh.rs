//! Refresh-ahead: the one place that decides how a `#[cached]` function reloads an entry past
//! its refresh point, and writes what a background reload needs.
//!
//! The rule, as the `#[cached]` rustdoc and `docs/architecture.md` state it: `#[cached]`
//! refreshes in the background when the attribute itself sets `refresh_ahead`, the function
//! has companions and it takes no `&mut` receiver or argument: the hit that claims the refresh
//! returns the current value and a task calls `f_uncached` with owned copies of the receiver
//! and arguments. Otherwise (the fraction comes only from the builder, `&mut`,
//! `companions = false`, an argument bound by a pattern) the caller that claims the refresh
//! reloads inline and returns the fresh value.
//!
//! Why each condition:
//! - the attribute asks for it: a background reload needs owned copies (a clone of the
//!   receiver, `ToOwned` of each argument) and, for an `async fn`, a `Send` future; a function
//!   that did not ask is not held to those bounds (a fraction set on the builder applies to
//!   functions that never mention it);
//! - companions: the task calls `f_uncached`; without companions the body has no other home
//!   than the function itself (and a trait impl method, the reason for `companions = false`,
//!   cannot gain one);
//! - no `&mut`: a copy of a `&mut` argument is not the caller's, so the reload would not do what
//!   the body does.
//!
//! A compile-time choice without the attribute (autoref dispatch on "can the receiver and
//! arguments be owned") is the natural next step, with two limits found while designing this:
//! trait selection ignores lifetimes, so a `Clone` receiver with a non-`'static` lifetime would
//! be chosen for the background and then fail to compile instead of falling back; and an
//! `async fn`'s future can be probed for `Send` only from an item that its own recursion does
//! not pass through (a probe inside the hidden implementation makes a recursive `async fn` a
//! cycle error).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use crate::args::Fraction;
use crate::body::internal;
use crate::companions::{Companions, Recv};

/// How a hit past its refresh point reloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresh {
    /// The hit returns the current value; a task (or a helper thread) calls `f_uncached` with
    /// owned copies of the receiver and arguments.
    Background,
    /// The caller that claims the refresh reloads, as a miss does, and returns the fresh value.
    Inline,
}

/// The rule above.
pub(crate) fn plan(refresh_ahead: Option<Fraction>, companions: Option<&Companions>) -> Refresh {
    match (refresh_ahead, companions) {
        (Some(_), Some(companions)) if !companions.takes_mut() => Refresh::Background,
        _ => Refresh::Inline,
    }
}

/// Owned copies of the receiver and arguments (`let` statements, each checked at the receiver
/// or argument it copies), and the call of `f_uncached` on them, for a background reload.
pub(crate) fn owned_call(
    companions: &Companions,
    krate: &TokenStream,
    is_async: bool,
) -> (TokenStream, TokenStream) {
    let mut copies = TokenStream::new();
    let this = internal("__cache_this");
    let receiver = match companions.recv {
        Recv::None | Recv::Mut => quote!(),
        Recv::Shared(span) => {
            let check = quote_spanned!(span=> #krate::__private::refresh_receiver(self));
            copies.extend(quote!(let #this = #check;));
            quote!(&#this)
        }
        Recv::Owned(span) => {
            let check = quote_spanned!(span=> #krate::__private::refresh_receiver(&self));
            copies.extend(quote!(let #this = #check;));
            quote!(#this)
        }
    };
    let mut args = Vec::new();
    for arg in &companions.args {
        let ident = &arg.ident;
        let own = internal(&format!("__cache_own_{ident}"));
        if arg.shared_ref {
            copies.extend(quote_spanned!(arg.span=>
                let #own = #krate::__private::refresh_argument(#ident);
            ));
            args.push(quote!(::core::borrow::Borrow::borrow(&#own)));
        } else {
            copies.extend(quote_spanned!(arg.span=>
                let #own = #krate::__private::refresh_argument(&#ident);
            ));
            args.push(quote!(#own));
        }
    }
    (copies, companions.call_uncached(is_async, receiver, &args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::LightFn;

    fn companions(function: TokenStream) -> Companions {
        let function: LightFn = syn::parse2(function).unwrap();
        Companions::of(&function).unwrap()
    }

    #[test]
    fn background_only_when_the_attribute_asks_and_nothing_is_mut() {
        let asked = Some(Fraction(0.8));
        let free = companions(quote!(
            fn f(a: &str, b: u64) -> u64 {
                1
            }
        ));
        let method = companions(quote!(
            fn f(&self, a: &[u8]) -> u64 {
                1
            }
        ));
        let mut_self = companions(quote!(
            fn f(&mut self, a: u64) -> u64 {
                1
            }
        ));
        let mut_arg = companions(quote!(
            fn f(a: &mut Vec<u8>) -> u64 {
                1
            }
        ));
        assert_eq!(plan(asked, Some(&free)), Refresh::Background);
        assert_eq!(plan(asked, Some(&method)), Refresh::Background);
        assert_eq!(plan(asked, Some(&mut_self)), Refresh::Inline);
        assert_eq!(plan(asked, Some(&mut_arg)), Refresh::Inline);
        assert_eq!(plan(asked, None), Refresh::Inline, "no companions");
        assert_eq!(plan(None, Some(&free)), Refresh::Inline, "builder only");
    }

    /// The rule is written once in words: the `#[cached]` rustdoc, `docs/architecture.md`
    /// (twice) and this module's doc must each contain it, word for word.
    #[test]
    fn the_rule_reads_the_same_everywhere() {
        let rule = "`#[cached]` refreshes in the background when the attribute itself sets \
                    `refresh_ahead`, the function has companions and it takes no `&mut` receiver \
                    or argument: the hit that claims the refresh returns the current value and a \
                    task calls `f_uncached` with owned copies of the receiver and arguments. \
                    Otherwise (the fraction comes only from the builder, `&mut`, \
                    `companions = false`, an argument bound by a pattern) the caller that claims \
                    the refresh reloads inline and returns the fresh value.";
        let root = env!("CARGO_MANIFEST_DIR");
        let read = |path: &str| {
            let text = std::fs::read_to_string(format!("{root}/{path}")).unwrap();
            let words: Vec<&str> = text
                .lines()
                .map(|line| {
                    let line = line.trim_start();
                    ["///", "//!"]
                        .iter()
                        .find_map(|prefix| line.strip_prefix(prefix))
                        .unwrap_or(line)
                })
                .flat_map(str::split_whitespace)
                .collect();
            words.join(" ")
        };
        for (path, times) in [
            ("src/lib.rs", 1),
            ("src/refresh.rs", 1),
            ("../docs/architecture.md", 2),
        ] {
            assert_eq!(read(path).matches(rule).count(), times, "{path}");
        }
    }
}
