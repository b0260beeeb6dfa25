//! `#[cached(...)]`: code generation from the checked description (`cached_model.rs`), by one
//! emitter for every combination of arguments. The generated code passes data and makes one
//! engine call, `lookup`; a miss then runs the body through the `LoadGuard` it returned. The
//! body is emitted once: in `f_uncached` when the function has companions, else in the
//! function itself, after the lookup (which borrows the arguments the body may then take).
//!
//! ```text
//! fn f(args..) -> R {                          // with companions: __f_cached(mode, args..)
//!     let holds: bool = condition;             // `condition` only (and only for Mode::Get)
//!     let cache = &(cache expr);               // with `condition`: only when it holds
//!     static FN: CachedFn = CachedFn::new(KeyTemplate::new(prefix, &[pieces]), ..);
//!     let load = {
//!         let parts = (part_check(&arg0), ..);
//!         // companions: Mode::Invalidate removes key_of(parts) and returns,
//!         //             Mode::Refresh takes refresh_load(..) instead of the lookup
//!         match lookup::<V, _>(cache, &FN, serde::<V>, parts, || options) {
//!             Hit(v) => return wrap(v),
//!             Refresh(v, load) => { spawn(load, f_uncached(owned copies)); return wrap(v) }
//!             // or, chosen by the generated code (the fraction comes from the builder):
//!             Refresh(v, load) => match start_refresh(
//!                 (&&RefreshProbe(copies)).refresh_plan(), load, |copies| f_uncached(copies..)) {
//!                 None => return wrap(v),     // started in the background
//!                 Some(load) => load,         // inline: counted, reloaded below
//!             },
//!             Refresh(_, load) | Load(load) => load, // a miss, or an inline refresh
//!         }
//!     };
//!     let load = unless(load, expr);
//!     let body = async move { original body };  // companions: f_uncached(args..) instead
//!     unwrap(run(load, move || async move { to_result(body.await) }).await)
//!     // (condition false: no cache, no lookup, `body.await`)
//! }
//! ```
//!
//! The `Refresh(v, load)` arm is there only when the refresh runs in the background or the
//! generated code chooses (`refresh.rs` decides); `wrap` is `Outcome::Value` in the hidden
//! implementation.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::args::{Fraction, LevelArg};
use crate::body::{Body, declared_ret, internal};
use crate::cache_expr;
use crate::cached_model::CachedModel;
use crate::companions::{self, Companions};
use crate::item::LightFn;
use crate::reader_put;
use crate::refresh::{self, Refresh};
use crate::render;
use crate::ret::Shape;
use crate::template::Template;
use crate::ttl::Ttl;

/// Parses, checks, then generates.
pub(crate) fn expand(args: TokenStream, function: &LightFn) -> syn::Result<TokenStream> {
    let model = CachedModel::parse(args, function)?;
    Ok(emit(&model, function))
}

/// The function and, with companions, the items next to it.
fn emit(model: &CachedModel, function: &LightFn) -> TokenStream {
    let LightFn {
        attrs, vis, sig, ..
    } = function;
    let is_async = sig.asyncness.is_some();
    let Some(companions) = &model.companions else {
        let engine = engine(model, function, &Home::Here(Body::of(function)), None);
        return quote! {
            #(#attrs)*
            #vis #sig {
                #engine
            }
        };
    };
    let krate = &model.krate;
    let mode = internal("__cache_mode");
    let engine = engine(model, function, &Home::Uncached(companions), Some(&mode));
    let get = companions.call_hidden(krate, is_async, "Get");
    let refresh = companions.call_hidden(krate, is_async, "Refresh");
    let invalidate = companions.call_hidden(krate, is_async, "Invalidate");
    let inherited = companions::inherited_attrs(function);
    let hidden_item = companions.hidden_item(function, krate, &mode, engine);
    let uncached_item = companions.uncached_item(function, &inherited);
    let invalidate_item =
        companions.invalidate_item(function, &inherited, quote!(let _ = #invalidate;));
    let refresh_item = companions.refresh_item(function, &inherited, quote!(#refresh.value()));
    let put_plan_item = reader_put::reader_companion(model, function, &inherited);
    quote! {
        #(#attrs)*
        #vis #sig {
            #get.value()
        }

        #hidden_item
        #uncached_item
        #invalidate_item
        #refresh_item
        #put_plan_item
    }
}

/// Where the body is emitted, and how the generated code runs it.
enum Home<'a> {
    /// In the function itself, defined after the lookup (no companions).
    Here(Body),
    /// In `f_uncached`, called with the arguments.
    Uncached(&'a Companions),
}

impl Home<'_> {
    /// The body's definition, where the function needs one.
    fn define(&self) -> TokenStream {
        match self {
            Home::Here(body) => body.define.clone(),
            Home::Uncached(_) => TokenStream::new(),
        }
    }

    /// The expression that runs the body once (awaited for an async function).
    fn run(&self, is_async: bool) -> TokenStream {
        match self {
            Home::Here(body) => body.run.clone(),
            Home::Uncached(companions) => companions.call_with_args(is_async),
        }
    }
}

/// The cache logic: the body of the function, or with companions (`mode` given) of the hidden
/// implementation, whose answers are `Outcome`s.
fn engine(
    model: &CachedModel,
    function: &LightFn,
    home: &Home<'_>,
    mode: Option<&Ident>,
) -> TokenStream {
    let names = Names::new();
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let is_async = function.sig.asyncness.is_some();
    let shape = shape(model, &names);
    let Names {
        cache,
        function_static,
        value,
        load,
        result,
        ret,
        ..
    } = &names;
    let wrap = |expr: &TokenStream| match mode {
        Some(_) => quote!(#private::Outcome::Value(#expr)),
        None => expr.clone(),
    };

    let parts = internal("__cache_parts");
    let serde = value_fns(model);
    let options = options(model);
    let lookup = value_fn(model, "lookup", 1);
    let hit = wrap(&shape.hit);
    let on_refresh = background_arm(model, is_async, &names, &shape, &hit);
    let lookup_match = quote! {
        match #lookup(#cache, &#function_static, #serde, #parts, || #options) {
            #private::Lookup::Hit(#value) => return #hit,
            #on_refresh
            #private::Lookup::Refresh(_, #load) | #private::Lookup::Load(#load) => #load,
        }
    };
    let find_load = match mode {
        None => lookup_match,
        Some(mode) => {
            let key = internal("__cache_key");
            let invalidate = if is_async {
                quote!(#cache.invalidate(&#key).await)
            } else {
                quote!(#cache.invalidate_blocking(&#key))
            };
            let refresh_load = value_fn(model, "refresh_load", 1);
            quote! {
                if #mode == #private::Mode::Invalidate {
                    let #key = #private::key_of(&#function_static, #parts);
                    #invalidate;
                    return #private::Outcome::Invalidated;
                }
                if #mode == #private::Mode::Refresh {
                    #refresh_load(#cache, &#function_static, #serde, #parts, || #options)
                } else {
                    #lookup_match
                }
            }
        }
    };
    let (markers, checked_parts) = (model.key.markers(), model.key.parts());
    // The key's marker types live in this block only, out of the body's sight.
    let find_load = quote!({
        #markers
        let #parts = #checked_parts;
        #find_load
    });
    let static_fn = {
        let (prefix, pieces) = (model.prefix_tokens(), model.key.pieces());
        let background = model.refresh != Refresh::Inline;
        quote! {
            static #function_static: #private::CachedFn = #private::CachedFn::new(
                #private::KeyTemplate::new(#prefix, #pieces),
                #background,
            );
        }
    };
    let unless = unless(model, &names);
    let define_body = home.define();
    let run_body = home.run(is_async);
    let let_ret = match declared_ret(function) {
        Some(ty) => quote!(let #ret: #ty = #run_body;),
        None => quote!(let #ret = #run_body;),
    };
    let run_load = run_load(model, is_async, &let_ret, &names, &shape);
    let finish = wrap(&shape.finish);

    let Some(condition) = &model.condition else {
        let bind_cache = cache_expr::bind(model.cache.as_ref(), krate, cache);
        return quote! {
            #bind_cache
            #static_fn
            let #load = #find_load;
            #unless
            #define_body
            let #result = #run_load;
            #finish
        };
    };
    let holds = internal("__cache_holds");
    let condition = checked_condition(condition);
    let condition = match mode {
        Some(mode) => quote!(#mode != #private::Mode::Get || #condition),
        None => condition,
    };
    let bind_cache = cache_expr::bind_if(model.cache.as_ref(), krate, cache, &holds);
    let bypass = wrap(&run_body);
    let option = quote!(::core::option::Option);
    quote! {
        let #holds: bool = #condition;
        #bind_cache
        #static_fn
        let #load = match #cache {
            #option::Some(#cache) => #option::Some(#find_load),
            #option::None => #option::None,
        };
        #define_body
        match #load {
            #option::Some(#load) => {
                #unless
                let #result = #run_load;
                #finish
            }
            #option::None => #bypass,
        }
    }
}

/// The match arm of a hit past its refresh point when the reload runs in the background:
/// owned copies of the receiver and arguments go to a task (or a helper thread) that calls
/// `f_uncached`, and the caller returns the current value. `unless` marks the load first, so
/// a background reload stores what an inline one would.
fn background_arm(
    model: &CachedModel,
    is_async: bool,
    names: &Names,
    shape: &ShapeTokens,
    hit: &TokenStream,
) -> Option<TokenStream> {
    let companions = match model.refresh {
        Refresh::Background | Refresh::Chosen => model.companions.as_ref()?,
        Refresh::Inline => return None,
    };
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let Names {
        value, load, ret, ..
    } = names;
    let to_result = &shape.to_result;
    if model.refresh == Refresh::Chosen {
        return Some(chosen_arm(model, companions, is_async, names, shape, hit));
    }
    let unless = unless(model, names);
    let (copies, owned_call) = refresh::owned_call(companions, krate, is_async);
    let spawn = if is_async {
        let spawn = value_fn(model, "spawn", 3);
        quote!(#spawn(#load, move || async move { let #ret = #owned_call; #to_result }))
    } else {
        let spawn = value_fn(model, "spawn_blocking", 2);
        quote!(#spawn(#load, move || { let #ret = #owned_call; #to_result }))
    };
    Some(quote! {
        #private::Lookup::Refresh(#value, #load) => {
            #unless
            #copies
            #spawn;
            return #hit;
        }
    })
}

/// The arm of [`Refresh::Chosen`]: the generated code asks the dispatch for a plan, which
/// either starts the background reload with the owned copies (the caller returns the current
/// value) or hands the load back for an inline reload. The same loader is written for both;
/// the inline plan never calls it.
fn chosen_arm(
    model: &CachedModel,
    companions: &Companions,
    is_async: bool,
    names: &Names,
    shape: &ShapeTokens,
    hit: &TokenStream,
) -> TokenStream {
    let Names {
        value, load, ret, ..
    } = names;
    let to_result = &shape.to_result;
    let refresh::Dispatch {
        plan,
        pattern,
        call,
    } = refresh::dispatch(companions, &model.krate, is_async);
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let copies = internal("__cache_copies");
    let loader = if is_async {
        quote!(move |#copies| async move { let #pattern = #copies; let #ret = #call; #to_result })
    } else {
        quote!(move |#copies| { let #pattern = #copies; let #ret = #call; #to_result })
    };
    let start = {
        let kind = Ident::new(
            if is_async { "AsyncFn" } else { "SyncFn" },
            Span::call_site(),
        );
        let value_ty = &model.ret.value;
        quote_spanned!(value_ty.span()=>
            #private::start_refresh::<#value_ty, #private::#kind, _, _, _, _>)
    };
    let option = quote!(::core::option::Option);
    let unless = unless(model, names);
    quote! {
        #private::Lookup::Refresh(#value, #load) => {
            #unless
            use #private::ChooseRefresh as _;
            match #start(#plan, #load, #loader) {
                #option::None => return #hit,
                #option::Some(#load) => #load,
            }
        }
    }
}

/// Names the generated code uses (mixed-site: invisible to the body).
struct Names {
    cache: Ident,
    function_static: Ident,
    value: Ident,
    load: Ident,
    result: Ident,
    ret: Ident,
    never: Ident,
}

impl Names {
    fn new() -> Self {
        Self {
            cache: internal("__cache"),
            function_static: internal("__CACHED_FN"),
            value: internal("__cache_value"),
            load: internal("__cache_load"),
            result: internal("__cache_result"),
            ret: internal("__cache_ret"),
            never: internal("__cache_never"),
        }
    }
}

/// How the return value maps to the cached value and back.
struct ShapeTokens {
    /// A hit's return expression, from `value`.
    hit: TokenStream,
    /// The body's return value `ret` as a `Result<V, LoadError<_>>` for the engine: what is
    /// cached, or an error that is a failure (`Err` of a `Result`) or just nothing to cache
    /// (`None`, `Ok(None)`).
    to_result: TokenStream,
    /// The function's return expression, from the engine's `result`.
    finish: TokenStream,
}

fn shape(model: &CachedModel, names: &Names) -> ShapeTokens {
    let Names {
        value,
        result,
        ret,
        never,
        ..
    } = names;
    let load_error = {
        let krate = &model.krate;
        quote!(#krate::__private::LoadError)
    };
    let (ok, err) = (
        quote!(::core::result::Result::Ok),
        quote!(::core::result::Result::Err),
    );
    let (some, none) = (
        quote!(::core::option::Option::Some),
        quote!(::core::option::Option::None),
    );
    match model.ret.shape {
        Shape::Result => ShapeTokens {
            hit: quote!(#ok(#value)),
            to_result: quote!(::core::result::Result::map_err(#ret, #load_error::Failed)),
            finish: quote!(#result),
        },
        Shape::ResultOption => ShapeTokens {
            hit: quote!(#ok(#some(#value))),
            to_result: quote! {
                match #ret {
                    #ok(#some(#value)) => #ok(#value),
                    #ok(#none) => #err(#load_error::Nothing(#none)),
                    #err(#never) => #err(#load_error::Failed(#some(#never))),
                }
            },
            finish: quote! {
                match #result {
                    #ok(#value) => #ok(#some(#value)),
                    #err(#none) => #ok(#none),
                    #err(#some(#never)) => #err(#never),
                }
            },
        },
        Shape::Option => ShapeTokens {
            hit: quote!(#some(#value)),
            to_result: quote!(::core::option::Option::ok_or(#ret, #load_error::Nothing(()))),
            finish: quote!(::core::result::Result::ok(#result)),
        },
        Shape::Plain => ShapeTokens {
            hit: quote!(#value),
            to_result: quote!(
                ::core::result::Result::<_, #load_error<::core::convert::Infallible>>::Ok(#ret)
            ),
            finish: quote! {
                match #result {
                    #ok(#value) => #value,
                    #err(#never) => match #never {},
                }
            },
        },
    }
}

/// The entry's options (evaluated on a miss only: tags render the arguments).
fn options(model: &CachedModel) -> TokenStream {
    entry_options(
        &model.krate,
        model.ttl,
        &model.tags,
        model.refresh_ahead,
        model.level,
    )
}

/// `EntryOptions::new()` with the attribute's TTL, tags (rendered from the arguments),
/// refresh fraction and level.
pub(crate) fn entry_options(
    krate: &TokenStream,
    ttl: Option<Ttl>,
    tags: &[Template],
    refresh_ahead: Option<Fraction>,
    level: LevelArg,
) -> TokenStream {
    let mut options = quote!(#krate::__private::EntryOptions::new());
    if let Some(ttl) = ttl {
        let ttl = ttl.to_tokens();
        options.extend(quote!(.ttl(#ttl)));
    }
    if !tags.is_empty() {
        let tags = tags.iter().map(|tag| render::string(tag, krate));
        options.extend(quote!(.tags([#(#tags),*])));
    }
    if let Some(fraction) = refresh_ahead {
        let fraction = proc_macro2::Literal::f64_unsuffixed(fraction.0);
        options.extend(quote!(.refresh_ahead(#fraction)));
    }
    if level == LevelArg::L1 {
        options.extend(quote!(.level(#krate::__private::Level::L1)));
    }
    options
}

/// A `cache_core::__private` function that takes the cached value type as its first generic
/// argument, spelled at the return type: an unfit value type is blamed there, where `lookup`
/// reports it, so rustc reports that bound once.
fn value_fn(model: &CachedModel, name: &str, inferred: usize) -> TokenStream {
    private_fn_at(&model.krate, &model.ret.value, name, inferred)
}

/// `cache_core::__private::{name}::<V, _, ..>` (`inferred` placeholders), spelled at `value_ty`.
pub(crate) fn private_fn_at(
    krate: &TokenStream,
    value_ty: &syn::Type,
    name: &str,
    inferred: usize,
) -> TokenStream {
    let span = value_ty.span();
    let name = Ident::new(name, span);
    let inferred = (0..inferred).map(|_| quote!(_));
    quote_spanned!(span=> #krate::__private::#name::<#value_ty, #(#inferred),*>)
}

/// The load after a miss: `run(load, loader)` (or `run_blocking`).
fn run_load(
    model: &CachedModel,
    is_async: bool,
    run_body: &TokenStream,
    names: &Names,
    shape: &ShapeTokens,
) -> TokenStream {
    let (load, to_result) = (&names.load, &shape.to_result);
    if is_async {
        let run = value_fn(model, "run", 3);
        quote! {
            #run(#load, move || async move {
                #run_body
                #to_result
            }).await
        }
    } else {
        let run = value_fn(model, "run_blocking", 2);
        quote! {
            #run(#load, move || {
                #run_body
                #to_result
            })
        }
    }
}

/// `let load = unless(load, expr);` for `unless = expr`.
fn unless(model: &CachedModel, names: &Names) -> Option<TokenStream> {
    let expr = model.unless.as_ref()?;
    let load = &names.load;
    let unless = value_fn(model, "unless", 1);
    let expr = quote_spanned!(expr.span()=> #expr);
    Some(quote!(let #load = #unless(#load, #expr);))
}

/// The value functions (`serde`, weigher) of the function's store.
fn value_fns(model: &CachedModel) -> TokenStream {
    let krate = &model.krate;
    let value_ty = &model.ret.value;
    let serde = serde_fn(krate, model.level, value_ty);
    match &model.weight {
        Some(weigher) => {
            let weigher = quote_spanned!(weigher.span()=> #weigher);
            quote!(|| #krate::__private::weighed::<#value_ty>(#serde(), #weigher))
        }
        None => serde,
    }
}

/// The function giving the serde functions of `value_ty` (none for `level = "l1"`), spelled at
/// `value_ty`.
pub(crate) fn serde_fn(krate: &TokenStream, level: LevelArg, value_ty: &syn::Type) -> TokenStream {
    match level {
        LevelArg::L1 => quote_spanned!(value_ty.span()=> #krate::__private::l1_value::<#value_ty>),
        LevelArg::Both => {
            quote_spanned!(value_ty.span()=> <#value_ty as #krate::__private::L2Value<_>>::value_serde)
        }
    }
}

/// `condition = expr` as a `bool` expression whose type error points at `expr`.
fn checked_condition(condition: &syn::Expr) -> TokenStream {
    let span = condition.span();
    let var = internal("__cache_condition");
    quote_spanned!(span=> {
        let #var: bool = #condition;
        #var
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    /// Every combination of the arguments that shape the generated code, on functions of every
    /// shape: the body (marked by an identifier found nowhere else) is emitted exactly once.
    #[test]
    fn the_body_is_emitted_once_in_every_combination() {
        let functions = [
            quote!(
                fn f(id: u64, name: &str) -> u64 {
                    body_marker(id)
                }
            ),
            quote!(
                async fn f(id: u64, name: String) -> Result<u64, E> {
                    body_marker(id)
                }
            ),
            quote!(
                fn f(&self, id: u64) -> Option<u64> {
                    body_marker(id)
                }
            ),
            quote!(
                async fn f(&mut self, id: &mut u64) -> u64 {
                    body_marker(id)
                }
            ),
            quote!(
                fn f<T: Clone>(id: T) -> u64 {
                    body_marker(id)
                }
            ),
            quote!(
                fn f(id: u64, (a, _): (u64, u64)) -> u64 {
                    body_marker(id + a)
                }
            ),
        ];
        let choices = [
            [quote!(), quote!(companions = false,)],
            [quote!(), quote!(condition = 1 > 0,)],
            [quote!(), quote!(refresh_ahead = 0.5,)],
            [quote!(), quote!(unless = |_: &u64| false,)],
        ];
        for function in &functions {
            let function: LightFn = syn::parse2(function.clone()).unwrap();
            for combination in 0..1 << choices.len() {
                let mut args = quote!(key = "{id}", level = "l1",);
                for (bit, choice) in choices.iter().enumerate() {
                    args.extend(choice[(combination >> bit) & 1].clone());
                }
                let expanded = expand(args.clone(), &function).unwrap().to_string();
                assert_eq!(
                    expanded.matches("body_marker").count(),
                    1,
                    "#[cached({args})] on {}",
                    function.sig.to_token_stream()
                );
            }
        }
    }
}
