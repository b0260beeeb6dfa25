//! Moving the function's body into an inner `async move` block (async fns) or `move` closure
//! (plain fns), so that `return` and `?` in the body leave that block, not the generated code.

use crate::item::LightFn;
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use crate::ret::has_impl_trait;

/// A name for generated code that user code cannot see (mixed-site hygiene).
pub(crate) fn internal(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// Like [`internal`], but located at `span` (diagnostics about it point there).
pub(crate) fn internal_at(name: &str, span: Span) -> Ident {
    Ident::new(name, Span::mixed_site().located_at(span))
}

/// The body, bound to a variable, and the expression that runs it.
pub(crate) struct Body {
    /// `let __body = async move { .. };` or `let __body = move || -> T { .. };`
    pub(crate) define: TokenStream,
    /// `__body.await` or `__body()`.
    pub(crate) run: TokenStream,
    /// The declared return type, to annotate the result (`None` for `impl Trait`).
    pub(crate) ret: Option<TokenStream>,
}

/// The declared return type, to annotate the body's result (`None` for `impl Trait`, which
/// cannot be written in a `let`).
pub(crate) fn declared_ret(item: &LightFn) -> Option<TokenStream> {
    match &item.sig.output {
        syn::ReturnType::Default => Some(quote!(())),
        syn::ReturnType::Type(_, ty) if !has_impl_trait(ty) => Some(quote!(#ty)),
        syn::ReturnType::Type(..) => None,
    }
}

impl Body {
    pub(crate) fn of(item: &LightFn) -> Self {
        let var = internal("__cache_body");
        let block = &item.block;
        let ret = declared_ret(item);
        if item.sig.asyncness.is_some() {
            Self {
                define: quote!(let #var = async move #block;),
                run: quote!(#var.await),
                ret,
            }
        } else {
            let arrow = ret.as_ref().map(|ty| quote!(-> #ty));
            Self {
                define: quote!(let #var = move || #arrow #block;),
                run: quote!(#var()),
                ret,
            }
        }
    }

    /// `let {var}: Ret = {run};`
    pub(crate) fn run_into(&self, var: &Ident) -> TokenStream {
        let run = &self.run;
        match &self.ret {
            Some(ty) => quote!(let #var: #ty = #run;),
            None => quote!(let #var = #run;),
        }
    }
}
