//! The functions generated next to a `#[cached]` function `f`, with its visibility, receiver,
//! generics and arguments:
//! - `f_uncached(args)`: the original body, emitted there only; the cached function calls it
//!   on a miss (and when its `condition` is false), and a background refresh calls it with
//!   owned copies of the arguments (`refresh.rs`);
//! - `f_invalidate(args)`: removes the entry of these arguments everywhere;
//! - `f_refresh(args)`: runs the body now and stores its result;
//! - `__f_cached(mode, args)` (hidden): the cache logic (`expand_cached.rs`), shared by `f`,
//!   `f_invalidate` and `f_refresh` through a `Mode`: it holds the function's one `CachedFn` static (where its
//!   L1 store is found, so they must share it) and checks the key parts once (so a key part
//!   of an unfit type is reported once).
//!
//! Companions need every argument bound to a plain name (to forward it); a function with
//! other patterns, or `companions = false` (for methods of a trait impl, where no extra item
//! may be added), keeps the cache logic and the body inside the one function.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, format_ident, quote};
use syn::spanned::Spanned;
use syn::{FnArg, GenericParam, Pat, Receiver, Type};

use crate::item::LightFn;

/// How an argument is passed on.
pub(crate) struct Arg {
    pub(crate) ident: Ident,
    /// A shared reference (`&T`, `&str`): a background refresh passes a borrow of an owned
    /// copy.
    pub(crate) shared_ref: bool,
    /// A `&mut` reference: cannot be copied for a background refresh.
    mut_ref: bool,
    pub(crate) span: Span,
}

/// The receiver, if any.
pub(crate) enum Recv {
    None,
    /// `&self` or `self: &X`: a background refresh passes a borrow of a clone.
    Shared(Span),
    /// `self`, `mut self` or `self: X`: a background refresh passes a clone.
    Owned(Span),
    /// `&mut self` or `self: &mut X`: no background refresh.
    Mut,
}

/// What the companions need to know of the function.
pub(crate) struct Companions {
    pub(crate) name: Ident,
    pub(crate) args: Vec<Arg>,
    pub(crate) recv: Recv,
    /// Type and const parameters, for a turbofish (none when an argument is `impl Trait`).
    turbofish: TokenStream,
}

/// How a method takes `self`.
pub(crate) fn receiver_kind(receiver: &Receiver) -> Recv {
    let span = receiver.span();
    if receiver.reference.is_some() {
        return if receiver.mutability.is_some() {
            Recv::Mut
        } else {
            Recv::Shared(span)
        };
    }
    if receiver.colon_token.is_some() {
        return match &*receiver.ty {
            Type::Reference(reference) if reference.mutability.is_some() => Recv::Mut,
            Type::Reference(_) => Recv::Shared(span),
            _ => Recv::Owned(span),
        };
    }
    Recv::Owned(span)
}

fn mentions_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(ident) => ident == "impl",
        proc_macro2::TokenTree::Group(group) => mentions_impl(group.stream()),
        _ => false,
    })
}

impl Companions {
    /// The plan, or `None` when an argument is not a plain name.
    pub(crate) fn of(function: &LightFn) -> Option<Self> {
        let sig = &function.sig;
        let mut recv = Recv::None;
        let mut args = Vec::new();
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(receiver) => recv = receiver_kind(receiver),
                FnArg::Typed(typed) => {
                    let Pat::Ident(pat) = &*typed.pat else {
                        return None;
                    };
                    if pat.by_ref.is_some() || pat.subpat.is_some() {
                        return None;
                    }
                    let (shared_ref, mut_ref) = match &*typed.ty {
                        Type::Reference(reference) => (
                            reference.mutability.is_none(),
                            reference.mutability.is_some(),
                        ),
                        _ => (false, false),
                    };
                    args.push(Arg {
                        ident: pat.ident.clone(),
                        shared_ref,
                        mut_ref,
                        span: typed.span(),
                    });
                }
            }
        }
        let inputs = &sig.inputs;
        let impl_args = mentions_impl(quote!(#inputs));
        let params: Vec<TokenStream> = sig
            .generics
            .params
            .iter()
            .filter_map(|param| match param {
                GenericParam::Type(ty) => {
                    let ident = &ty.ident;
                    Some(quote!(#ident))
                }
                GenericParam::Const(constant) => {
                    let ident = &constant.ident;
                    Some(quote!(#ident))
                }
                GenericParam::Lifetime(_) => None,
            })
            .collect();
        let turbofish = if params.is_empty() || impl_args {
            TokenStream::new()
        } else {
            quote!(::<#(#params),*>)
        };
        Some(Self {
            name: sig.ident.clone(),
            args,
            recv,
            turbofish,
        })
    }

    fn is_method(&self) -> bool {
        !matches!(self.recv, Recv::None)
    }

    fn hidden(&self) -> Ident {
        format_ident!("__{}_cached", self.name)
    }

    /// Calls the hidden implementation in `mode` with the arguments as they are; its
    /// `Outcome` (awaited for an async function).
    pub(crate) fn call_hidden(
        &self,
        krate: &TokenStream,
        is_async: bool,
        mode: &str,
    ) -> TokenStream {
        let hidden = self.hidden();
        let turbofish = &self.turbofish;
        let mode = Ident::new(mode, Span::call_site());
        let mode = quote!(#krate::__private::Mode::#mode);
        let args = self.args.iter().map(|arg| &arg.ident);
        let call = if self.is_method() {
            quote!(Self::#hidden #turbofish (self, #mode, #(#args),*))
        } else {
            quote!(#hidden #turbofish (#mode, #(#args),*))
        };
        if is_async { quote!(#call.await) } else { call }
    }

    /// The hidden implementation: the function's signature with a `Mode` after the receiver,
    /// returning an `Outcome`.
    pub(crate) fn hidden_item(
        &self,
        function: &LightFn,
        krate: &TokenStream,
        mode: &Ident,
        body: TokenStream,
    ) -> TokenStream {
        let mut sig = function.sig.clone();
        sig.ident = self.hidden();
        let at = usize::from(self.is_method());
        let mode_arg: FnArg = syn::parse_quote!(#mode: #krate::__private::Mode);
        sig.inputs.insert(at, mode_arg);
        let ret = match &function.sig.output {
            syn::ReturnType::Default => quote!(()),
            syn::ReturnType::Type(_, ty) => quote!(#ty),
        };
        sig.output = syn::parse_quote!(-> #krate::__private::Outcome<#ret>);
        quote! {
            #[doc(hidden)]
            #[allow(non_snake_case, unused_variables, clippy::too_many_arguments)]
            #[inline]
            #sig {
                #body
            }
        }
    }

    /// Calls `f_uncached` with `receiver` and `args` (awaited for an async function).
    pub(crate) fn call_uncached(
        &self,
        is_async: bool,
        receiver: TokenStream,
        args: &[TokenStream],
    ) -> TokenStream {
        let uncached = format_ident!("{}_uncached", self.name);
        let turbofish = &self.turbofish;
        let call = if self.is_method() {
            quote!(Self::#uncached #turbofish (#receiver, #(#args),*))
        } else {
            quote!(#uncached #turbofish (#(#args),*))
        };
        if is_async { quote!(#call.await) } else { call }
    }

    /// `f_uncached(self, args..)` with the arguments as they are.
    pub(crate) fn call_with_args(&self, is_async: bool) -> TokenStream {
        let args: Vec<TokenStream> = self
            .args
            .iter()
            .map(|arg| arg.ident.to_token_stream())
            .collect();
        self.call_uncached(is_async, quote!(self), &args)
    }

    /// Whether the receiver or an argument is a `&mut` (a background refresh could not copy
    /// it).
    pub(crate) fn takes_mut(&self) -> bool {
        matches!(self.recv, Recv::Mut) || self.args.iter().any(|arg| arg.mut_ref)
    }

    /// `f_uncached`: the original body under the companion's name.
    pub(crate) fn uncached_item(&self, function: &LightFn, attrs: &TokenStream) -> TokenStream {
        let mut sig = function.sig.clone();
        sig.ident = format_ident!("{}_uncached", self.name);
        let (vis, block) = (&function.vis, &function.block);
        let doc = format!(
            "Runs [`{}`]'s body without reading or writing the cache (generated by \
             `#[cached]`).",
            self.link()
        );
        quote! {
            #[doc = #doc]
            #attrs
            #[allow(unused_variables, dead_code)]
            #vis #sig #block
        }
    }

    /// How rustdoc links the cached function from its companions.
    fn link(&self) -> String {
        if self.is_method() {
            format!("Self::{}", self.name)
        } else {
            self.name.to_string()
        }
    }

    /// `f_invalidate`: removes the entry of these arguments in L1, L2 and other processes.
    pub(crate) fn invalidate_item(
        &self,
        function: &LightFn,
        attrs: &TokenStream,
        body: TokenStream,
    ) -> TokenStream {
        let mut sig = function.sig.clone();
        sig.ident = format_ident!("{}_invalidate", self.name);
        sig.output = syn::ReturnType::Default;
        let vis = &function.vis;
        let doc = format!(
            "Removes the cached entry of [`{}`] for these arguments: from this process's L1, \
             from L2 and from every other process's L1 (generated by `#[cached]`).",
            self.link()
        );
        let touch = self.args.iter().map(|arg| {
            let ident = &arg.ident;
            quote!(let _ = &#ident;)
        });
        quote! {
            #[doc = #doc]
            #attrs
            #[allow(dead_code)]
            #vis #sig {
                #(#touch)*
                #body
            }
        }
    }

    /// `f_refresh`: runs the body now and stores the result; returns what `f` returns.
    pub(crate) fn refresh_item(
        &self,
        function: &LightFn,
        attrs: &TokenStream,
        body: TokenStream,
    ) -> TokenStream {
        let mut sig = function.sig.clone();
        sig.ident = format_ident!("{}_refresh", self.name);
        let vis = &function.vis;
        let doc = format!(
            "Runs [`{}`]'s body now and stores its result in the cache, as a refresh does \
             (warming, priming); returns what the function returns (generated by \
             `#[cached]`).",
            self.link()
        );
        quote! {
            #[doc = #doc]
            #attrs
            #[allow(dead_code)]
            #vis #sig {
                #body
            }
        }
    }
}

/// The attributes a companion copies from the function: `cfg` and lint levels.
pub(crate) fn inherited_attrs(function: &LightFn) -> TokenStream {
    let attrs = function.attrs.iter().filter(|attr| {
        let path = attr.path();
        ["cfg", "cfg_attr", "allow", "expect", "warn", "deny"]
            .iter()
            .any(|name| path.is_ident(name))
    });
    quote!(#(#attrs)*)
}
