//! Refresh-ahead: the one place that decides how a `#[cached]` function reloads an entry past
//! its refresh point, and writes what a background reload needs.
//!
//! The rule, as the `#[cached]` rustdoc and `docs/architecture.md` state it: `#[cached]` refreshes
//! in the background when the function has companions, takes no `&mut` receiver or argument, and
//! its receiver and arguments can be owned (a clone of the receiver, an owned copy of each
//! argument, each `Send + 'static`): the hit that claims the refresh returns the current value and
//! a task calls `f_uncached` with the owned copies. When the attribute sets `refresh_ahead`, copies
//! that cannot be made are a compile error; when the fraction comes only from the builder, the
//! generated code chooses at compile time. Otherwise (`&mut`, `companions = false`, an argument
//! bound by a pattern, `refresh = "inline"`, or, with the fraction from the builder only, a
//! receiver or argument that cannot be owned, an argument type borrowing beyond a top-level `&`,
//! `impl Trait`, a type parameter without a `'static` bound) the caller that claims the refresh
//! reloads inline and returns the fresh value.
//!
//! Why each condition:
//! - owned copies: the reload outlives the call, so it gets a clone of the receiver and an
//!   owned copy of each argument (`ToOwned`: `String` for `&str`); a function whose attribute
//!   sets `refresh_ahead` asks for that and is held to it (what cannot be owned is a compile
//!   error at the receiver or argument), any other is not (a fraction set on the builder
//!   applies to functions that never mention it), so its generated code chooses;
//! - the choice is autoref-based dispatch in the generated code (`cache_core`'s
//!   `refresh_dispatch.rs`): `(&&RefreshProbe(copies)).refresh_plan()` finds the background
//!   plan when every element has an owned copy that is `Send + 'static`, the inline one
//!   otherwise; the background plan builds an `async fn`'s future on the blocking thread that
//!   runs it, so the future is never asked to be `Send` (a probe of the future would make a
//!   recursive `async fn` a cycle error);
//! - trait selection ignores lifetimes, so a `'static` bound cannot make the dispatch fall
//!   back: it would fail to compile instead. What the macro sees is planned inline here
//!   ([`ownable_in_sight`]); a receiver's `Self` it cannot see, hence `refresh = "inline"`;
//! - companions: the task calls `f_uncached`; without companions the body has no other home
//!   than the function itself (and a trait impl method, the reason for `companions = false`,
//!   cannot gain one);
//! - no `&mut`: a copy of a `&mut` argument is not the caller's, so the reload would not do what
//!   the body does.

use std::collections::HashSet;

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::{FnArg, GenericParam, Signature, Type, TypeParamBound, WherePredicate};

use crate::args::{Fraction, RefreshArg};
use crate::body::internal;
use crate::companions::{Companions, Recv};

/// How a hit past its refresh point reloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresh {
    /// The attribute asked: the hit returns the current value; a task (or a helper thread)
    /// calls `f_uncached` with owned copies of the receiver and arguments, which must exist.
    Background,
    /// The generated code chooses: in the background as above when the receiver and arguments
    /// can be owned, inline otherwise.
    Chosen,
    /// The caller that claims the refresh reloads, as a miss does, and returns the fresh value.
    Inline,
}

/// The rule above.
pub(crate) fn plan(
    refresh_ahead: Option<Fraction>,
    refresh: Option<RefreshArg>,
    companions: Option<&Companions>,
    sig: &Signature,
) -> Refresh {
    let Some(companions) = companions else {
        return Refresh::Inline;
    };
    if companions.takes_mut() || refresh == Some(RefreshArg::Inline) {
        Refresh::Inline
    } else if refresh_ahead.is_some() {
        Refresh::Background
    } else if ownable_in_sight(sig) {
        Refresh::Chosen
    } else {
        Refresh::Inline
    }
}

/// Whether nothing the macro sees of the arguments' types stops a background reload from
/// owning them: beyond a top-level `&` (whose pointee is copied), no lifetime other than
/// `'static`, no reference, no `impl` or `dyn` type, no macro, no associated type, and no type
/// parameter of the function without a `'static` bound. The receiver's type beyond `self` is
/// held to the same; `Self` itself is left to the dispatch.
pub(crate) fn ownable_in_sight(sig: &Signature) -> bool {
    let static_params = static_type_params(sig);
    let params: HashSet<String> = sig
        .generics
        .params
        .iter()
        .filter_map(|param| match param {
            GenericParam::Type(ty) => Some(ty.ident.to_string()),
            _ => None,
        })
        .collect();
    let owned_ok = |ty: &Type| {
        let pointee = match ty {
            Type::Reference(reference) => &*reference.elem,
            other => other,
        };
        tokens_ownable(pointee.to_token_stream(), &params, &static_params)
    };
    sig.inputs.iter().all(|input| match input {
        FnArg::Receiver(receiver) => receiver.colon_token.is_none() || owned_ok(&receiver.ty),
        FnArg::Typed(typed) => owned_ok(&typed.ty),
    })
}

/// The type parameters with an explicit `'static` bound, in the list or the `where` clause.
fn static_type_params(sig: &Signature) -> HashSet<String> {
    let is_static = |bound: &TypeParamBound| matches!(bound, TypeParamBound::Lifetime(lifetime) if lifetime.ident == "static");
    let mut found = HashSet::new();
    for param in &sig.generics.params {
        if let GenericParam::Type(ty) = param
            && ty.bounds.iter().any(is_static)
        {
            found.insert(ty.ident.to_string());
        }
    }
    for predicate in sig.generics.where_clause.iter().flat_map(|w| &w.predicates) {
        if let WherePredicate::Type(predicate) = predicate
            && let Type::Path(path) = &predicate.bounded_ty
            && let Some(ident) = path.path.get_ident()
            && predicate.bounds.iter().any(is_static)
        {
            found.insert(ident.to_string());
        }
    }
    found
}

/// The token scan of [`ownable_in_sight`].
fn tokens_ownable(
    tokens: TokenStream,
    params: &HashSet<String>,
    static_params: &HashSet<String>,
) -> bool {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    tokens.iter().enumerate().all(|(at, token)| match token {
        TokenTree::Group(group) => tokens_ownable(group.stream(), params, static_params),
        TokenTree::Punct(punct) => match punct.as_char() {
            '&' | '!' => false,
            '\'' => matches!(tokens.get(at + 1), Some(TokenTree::Ident(i)) if i == "static"),
            ':' => !matches!(at.checked_sub(2).map(|before| &tokens[before]),
                Some(TokenTree::Ident(i)) if i == "Self"),
            _ => true,
        },
        TokenTree::Ident(ident) => {
            let name = ident.to_string();
            !["impl", "dyn", "as"].contains(&name.as_str())
                && (!params.contains(&name) || static_params.contains(&name))
        }
        TokenTree::Literal(_) => true,
    })
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

/// The dispatch of [`Refresh::Chosen`]: the plan (`Background` holding the copies, or
/// `Inline`), the pattern that takes the copies apart in the loader, and the loader's call of
/// `f_uncached` on them.
pub(crate) struct Dispatch {
    /// `(&&RefreshProbe(list)).refresh_plan()`, spanned at the receiver (or the function's
    /// name): a receiver that is not `'static` is reported there.
    pub(crate) plan: TokenStream,
    /// `(this, (a, (b, ())))`.
    pub(crate) pattern: TokenStream,
    /// `f_uncached(&this, Borrow::borrow(&a), b)` (awaited for an `async fn`).
    pub(crate) call: TokenStream,
}

/// The tokens of [`Dispatch`].
pub(crate) fn dispatch(companions: &Companions, krate: &TokenStream, is_async: bool) -> Dispatch {
    let private = quote!(#krate::__private);
    let this = internal("__cache_this");
    let mut elements = Vec::new();
    let mut names = Vec::new();
    let (receiver, span) = match companions.recv {
        Recv::None | Recv::Mut => (quote!(), companions.name.span()),
        Recv::Shared(span) => {
            elements.push(quote!(#private::CloneOf(self)));
            names.push(this.clone());
            (quote!(&#this), span)
        }
        Recv::Owned(span) => {
            elements.push(quote!(#private::CloneOf(&self)));
            names.push(this.clone());
            (quote!(#this), span)
        }
    };
    let mut args = Vec::new();
    for arg in &companions.args {
        let ident = &arg.ident;
        let own = internal(&format!("__cache_own_{ident}"));
        if arg.shared_ref {
            elements.push(quote!(#private::OwnedOf(#ident)));
            args.push(quote!(::core::borrow::Borrow::borrow(&#own)));
        } else {
            elements.push(quote!(#private::CloneOf(&#ident)));
            args.push(quote!(#own));
        }
        names.push(own);
    }
    let list = elements
        .iter()
        .rev()
        .fold(quote!(()), |rest, element| quote!((#element, #rest)));
    let pattern = names
        .iter()
        .rev()
        .fold(quote!(()), |rest, name| quote!((#name, #rest)));
    let probe = quote!((&&#private::RefreshProbe(#list)));
    let plan = quote_spanned!(span=> #probe.refresh_plan());
    Dispatch {
        plan,
        pattern,
        call: companions.call_uncached(is_async, receiver, &args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::LightFn;

    fn plan_of(refresh_ahead: Option<Fraction>, function: TokenStream) -> Refresh {
        let function: LightFn = syn::parse2(function).unwrap();
        let companions = Companions::of(&function).unwrap();
        plan(refresh_ahead, None, Some(&companions), &function.sig)
    }

    #[test]
    fn background_when_asked_chosen_from_the_builder_inline_with_mut() {
        let asked = Some(Fraction(0.8));
        let free = quote!(
            fn f(a: &str, b: u64) -> u64 {
                1
            }
        );
        let method = quote!(
            fn f(&self, a: &[u8]) -> u64 {
                1
            }
        );
        let mut_self = quote!(
            fn f(&mut self, a: u64) -> u64 {
                1
            }
        );
        let mut_arg = quote!(
            fn f(a: &mut Vec<u8>) -> u64 {
                1
            }
        );
        assert_eq!(plan_of(asked, free.clone()), Refresh::Background);
        assert_eq!(plan_of(asked, method.clone()), Refresh::Background);
        assert_eq!(plan_of(asked, mut_self.clone()), Refresh::Inline);
        assert_eq!(plan_of(asked, mut_arg.clone()), Refresh::Inline);
        assert_eq!(plan_of(None, free.clone()), Refresh::Chosen, "builder only");
        assert_eq!(plan_of(None, method), Refresh::Chosen, "builder only");
        assert_eq!(plan_of(None, mut_self), Refresh::Inline);
        assert_eq!(plan_of(None, mut_arg), Refresh::Inline);
        let function: LightFn = syn::parse2(free).unwrap();
        let companions = Companions::of(&function).unwrap();
        let sig = &function.sig;
        assert_eq!(
            plan(asked, None, None, sig),
            Refresh::Inline,
            "no companions"
        );
        let inline = Some(RefreshArg::Inline);
        assert_eq!(plan(asked, inline, Some(&companions), sig), Refresh::Inline);
        assert_eq!(plan(None, inline, Some(&companions), sig), Refresh::Inline);
    }

    #[test]
    fn what_the_macro_sees_borrowing_is_planned_inline() {
        let sees = |function: TokenStream| {
            let function: LightFn = syn::parse2(function).unwrap();
            ownable_in_sight(&function.sig)
        };
        let ownable = [
            quote!(
                fn f(a: &str, b: &'a [u8], c: u64, d: Vec<String>) {}
            ),
            quote!(
                fn f(&self, a: &'static str, b: Cow<'static, str>) {}
            ),
            quote!(
                fn f(self: &Arc<Self>, a: Self) {}
            ),
            quote!(
                fn f<T: Clone + 'static>(a: T, b: &[T]) {}
            ),
            quote!(
                fn f<T, const N: usize>(a: Vec<T>, b: [u8; N])
                where
                    T: Send + 'static,
                {
                }
            ),
            quote!(
                fn f<T>(a: u64) -> T {}
            ),
        ];
        for function in ownable {
            assert!(sees(function.clone()), "{function}");
        }
        let borrowing = [
            quote!(
                fn f(a: &[&str]) {}
            ),
            quote!(
                fn f(a: Cow<'a, str>) {}
            ),
            quote!(
                fn f(a: Foo<'_>) {}
            ),
            quote!(
                fn f(a: Option<&str>) {}
            ),
            quote!(
                fn f(a: &impl Display) {}
            ),
            quote!(
                fn f(a: Box<dyn Fn()>) {}
            ),
            quote!(
                fn f<T: Clone>(a: T) {}
            ),
            quote!(
                fn f<T>(a: &Vec<T>)
                where
                    T: Clone,
                {
                }
            ),
            quote!(
                fn f(a: Self::Id) {}
            ),
            quote!(
                fn f(a: <T as Tr>::Id) {}
            ),
            quote!(
                fn f(a: ty!()) {}
            ),
            quote!(
                fn f(self: &'a Foo<'a>) {}
            ),
            quote!(
                fn f(self: Pin<&mut Self>) {}
            ),
        ];
        for function in borrowing {
            assert!(!sees(function.clone()), "{function}");
        }
    }

    /// The rule is written once in words: the `#[cached]` rustdoc, `docs/architecture.md`
    /// (twice) and this module's doc must each contain it, word for word.
    #[test]
    fn the_rule_reads_the_same_everywhere() {
        let rule = "`#[cached]` refreshes in the background when the function has companions, \
                    takes no `&mut` receiver or argument, and its receiver and arguments can be \
                    owned (a clone of the receiver, an owned copy of each argument, each `Send + \
                    'static`): the hit that claims the refresh returns the current value and a \
                    task calls `f_uncached` with the owned copies. When the attribute sets \
                    `refresh_ahead`, copies that cannot be made are a compile error; when the \
                    fraction comes only from the builder, the generated code chooses at compile \
                    time. Otherwise (`&mut`, `companions = false`, an argument bound by a pattern, \
                    `refresh = \"inline\"`, or, with the fraction from the builder only, a \
                    receiver or argument that cannot be owned, an argument type borrowing beyond a \
                    top-level `&`, `impl Trait`, a type parameter without a `'static` bound) the \
                    caller that claims the refresh reloads inline and returns the fresh value.";
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
