//! `#[cached_batch(...)]`: code generation from the checked description (`batch_model.rs`). The
//! generated code renders each distinct key once (with `#[cached]`'s key template and parts,
//! so both name one entry the same way), keeps the text of each key next to the key, and makes
//! one engine call, `load_many` (`load_many_blocking` for a plain `fn`), whose loader runs the
//! body with the keys found nowhere.
//!
//! ```text
//! fn f(&self, other: T, ids: &[K]) -> Result<HashMap<K, V>, E> {
//!     let cache = &(cache expr);
//!     static KEY: KeyTemplate = KeyTemplate::new(prefix, &[pieces]);
//!     let batch = BatchKeys::new(ids.iter(), |ids| render_key(&KEY, (part_check(ids), ..)));
//!     let options = EntryOptions::new().ttl(..).tags([..]);
//!     let keys = &batch;
//!     let loader = |missing: Vec<String>| {
//!         let owned: Vec<K> = keys.missing(&missing);     // Vec<K>: `let ids = ..` directly
//!         let other = batch_argument(&other);             // a clone per run of the body
//!         async move {
//!             let ids: &[K] = &owned;
//!             let ret: R = async move { original body }.await;
//!             ret.map(|map| keys.loaded(map))             // by text; unasked keys dropped
//!         }
//!     };
//!     load_many::<V, ..>(cache, &keys.texts(), options, serde::<V>, loader)
//!         .await
//!         .map(|found| batch.into_map(found))
//! }
//! ```

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{FnArg, Pat};

use crate::batch_model::{BatchForm, BatchModel};
use crate::body::internal;
use crate::cache_expr;
use crate::expand_cached::{entry_options, private_fn_at, serde_fn};
use crate::item::LightFn;

/// Parses, checks, then generates.
pub(crate) fn expand(args: TokenStream, function: &LightFn) -> syn::Result<TokenStream> {
    let model = BatchModel::parse(args, function)?;
    Ok(emit(&model, function))
}

/// The function, with the cache logic around its body.
fn emit(model: &BatchModel, function: &LightFn) -> TokenStream {
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let is_async = function.sig.asyncness.is_some();
    let (cache, key_template, batch, options, keys, loader, missing, owned, ret, found) = (
        internal("__cache"),
        internal("__CACHE_KEY"),
        internal("__cache_batch"),
        internal("__cache_options"),
        internal("__cache_keys"),
        internal("__cache_loader"),
        internal("__cache_missing"),
        internal("__cache_owned"),
        internal("__cache_ret"),
        internal("__cache_found"),
    );

    let bind_cache = cache_expr::bind(model.cache.as_ref(), krate, &cache);
    let (prefix, pieces) = (model.prefix.tokens(), model.key.pieces());
    let (markers, parts) = (model.key.markers(), model.key.parts());
    let element = &model.batch.ident;
    let entry = entry_options(krate, model.ttl, &model.tags, None, model.level);

    // The batch the body receives: the missing keys, in the declared form.
    let mutable = model.batch.mutable.then(|| quote!(mut));
    let batch_ty = &model.batch.ty;
    let (take_missing, bind_batch) = match &model.batch.form {
        BatchForm::Vec => (
            quote!(let #mutable #element: #batch_ty = #keys.missing(&#missing);),
            TokenStream::new(),
        ),
        BatchForm::Slice(elem) => (
            quote!(let #owned: ::std::vec::Vec<#elem> = #keys.missing(&#missing);),
            quote!(let #mutable #element: &[#elem] = &#owned;),
        ),
    };
    let clones = model.others.iter().map(|other| {
        let ident = &other.ident;
        let mutable = other.mutable.then(|| quote!(mut));
        quote!(let #mutable #ident = #private::batch_argument(&#ident);)
    });
    let ret_ty = &model.ret;
    let to_result = if model.is_result {
        quote!(::core::result::Result::map(#ret, |#ret| #keys.loaded(#ret)))
    } else {
        quote!(::core::result::Result::<_, ::core::convert::Infallible>::Ok(#keys.loaded(#ret)))
    };
    let block = &function.block;
    let run = if is_async {
        quote! {
            async move {
                #bind_batch
                let #ret: #ret_ty = async move #block.await;
                #to_result
            }
        }
    } else {
        quote! {{
            #bind_batch
            let #ret: #ret_ty = (move || -> #ret_ty #block)();
            #to_result
        }}
    };
    let serde = serde_fn(krate, model.level, &model.value);
    let call = if is_async {
        let load = private_fn_at(krate, &model.value, "load_many", 3);
        quote!(#load(#cache, &#keys.texts(), #options, #serde, #loader).await)
    } else {
        let load = private_fn_at(krate, &model.value, "load_many_blocking", 1);
        quote!(#load(#cache, &#keys.texts(), #options, #serde, #loader))
    };
    let finish = if model.is_result {
        quote!(::core::result::Result::map(#found, |#found| #batch.into_map(#found)))
    } else {
        quote! {
            match #found {
                ::core::result::Result::Ok(#found) => #batch.into_map(#found),
                ::core::result::Result::Err(#ret) => match #ret {},
            }
        }
    };

    let LightFn {
        attrs, vis, sig, ..
    } = function;
    let sig = without_mut_bindings(sig);
    quote! {
        #(#attrs)*
        #vis #sig {
            #bind_cache
            static #key_template: #private::KeyTemplate = #private::KeyTemplate::new(#prefix, #pieces);
            let #batch = {
                #markers
                #private::BatchKeys::new(
                    <[_]>::iter(&#element),
                    |#element| #private::render_key(&#key_template, #parts),
                )
            };
            let #options = #entry;
            let #keys = &#batch;
            let #loader = |#missing: ::std::vec::Vec<::std::string::String>| {
                #take_missing
                #(#clones)*
                #run
            };
            let #found = #call;
            #finish
        }
    }
}

/// The signature without `mut` on argument bindings: the body mutates its own copies, bound
/// with `mut` where it runs.
fn without_mut_bindings(sig: &syn::Signature) -> TokenStream {
    let mut sig = sig.clone();
    for input in &mut sig.inputs {
        if let FnArg::Typed(typed) = input
            && let Pat::Ident(pat) = &mut *typed.pat
        {
            pat.mutability = None;
        }
    }
    sig.into_token_stream()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form of batch function expands, with the body (marked by an identifier found
    /// nowhere else) emitted once, and no `mut` left on the signature's bindings.
    #[test]
    fn every_form_expands_with_the_body_once() {
        let functions = [
            quote!(
                async fn f(ids: &[u64]) -> Result<HashMap<u64, u64>, E> {
                    body_marker(ids)
                }
            ),
            quote!(
                fn f(mut ids: Vec<u64>) -> HashMap<u64, u64> {
                    body_marker(ids)
                }
            ),
            quote!(
                fn f(
                    &self,
                    mut tenant: String,
                    ids: &[u64],
                ) -> std::collections::BTreeMap<u64, u64> {
                    body_marker(ids)
                }
            ),
        ];
        for function in functions {
            let function: LightFn = syn::parse2(function).unwrap();
            let expanded = expand(quote!(key_prefix = "p", level = "l1"), &function)
                .unwrap()
                .to_string();
            assert_eq!(expanded.matches("body_marker").count(), 1, "{expanded}");
            let signature = &expanded[..expanded.find('{').unwrap()];
            assert!(!signature.contains("mut"), "{signature}");
        }
    }
}
