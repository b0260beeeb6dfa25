//! `#[cached(...)]`: code generation from the checked description (`cached_model.rs`). The
//! generated function passes data and makes one engine call, `lookup`; a miss then runs the
//! body through the `Load` guard it returned.
//!
//! ```text
//! fn f(args..) -> R {
//!     let cache = &(cache expr);
//!     static FN: CachedFn = CachedFn::new(KeyTemplate::new(prefix, &[pieces]), ..);
//!     let load = match lookup::<V, _>(cache, &FN, serde::<V>, (&arg0, &*arg1), || options) {
//!         Hit(v) => return wrap(v),
//!         Refresh(v, load) => { spawn(load, reload with clones); return wrap(v) } // background only
//!         Load(load) => load,
//!     };
//!     let body = async move { original body };   // or `move || -> R { original body }`
//!     unwrap(run(load, move || async move { to_result(body.await) }).await)
//! }
//! ```

use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::args::{Fraction, LevelArg};
use crate::body::{Body, internal};
use crate::cache_expr;
use crate::cached_model::CachedModel;
use crate::companions::Companions;
use crate::item::LightFn;
use crate::render;
use crate::ret::Shape;
use crate::template::Template;
use crate::ttl::Ttl;

/// Parses, checks, then generates.
pub(crate) fn expand(args: TokenStream, function: &LightFn) -> syn::Result<TokenStream> {
    let model = CachedModel::parse(args, function)?;
    Ok(match &model.companions {
        Some(companions) => generate_with_companions(&model, companions, function),
        None => generate(&model, function),
    })
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
    /// The body's return value `ret` as a `Result<V, E>` for the engine.
    to_result: TokenStream,
    /// The function's return expression, from the engine's `result`.
    finish: TokenStream,
    errors_are_failures: bool,
}

fn shape(model: &CachedModel, names: &Names) -> ShapeTokens {
    let Names {
        value,
        result,
        ret,
        never,
        ..
    } = names;
    match model.ret.shape {
        Shape::Result => ShapeTokens {
            hit: quote!(::core::result::Result::Ok(#value)),
            to_result: quote!(#ret),
            finish: quote!(#result),
            errors_are_failures: true,
        },
        Shape::Option => ShapeTokens {
            hit: quote!(::core::option::Option::Some(#value)),
            to_result: quote!(::core::option::Option::ok_or(#ret, ())),
            finish: quote!(::core::result::Result::ok(#result)),
            errors_are_failures: false,
        },
        Shape::Plain => ShapeTokens {
            hit: quote!(#value),
            to_result: quote!(::core::result::Result::<_, ::core::convert::Infallible>::Ok(#ret)),
            finish: quote! {
                match #result {
                    ::core::result::Result::Ok(#value) => #value,
                    ::core::result::Result::Err(#never) => match #never {},
                }
            },
            errors_are_failures: true,
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
    let krate = &model.krate;
    let value_ty = &model.ret.value;
    let span = value_ty.span();
    let name = Ident::new(name, span);
    let inferred = (0..inferred).map(|_| quote!(_));
    quote_spanned!(span=> #krate::__private::#name::<#value_ty, #(#inferred),*>)
}

/// `let ret: R = <run the body>;` and the body's definition (an inner fn when a background
/// refresh needs to call it again with clones of the arguments).
fn body(model: &CachedModel, function: &LightFn, names: &Names) -> (TokenStream, TokenStream) {
    let ret = &names.ret;
    let body = Body::of(function);
    match &model.background {
        Some(plan) => {
            let (inner, args) = (&plan.inner, &plan.args);
            let call = match function.sig.asyncness {
                Some(_) => quote!(#inner(#(#args),*).await),
                None => quote!(#inner(#(#args),*)),
            };
            let run = match &body.ret {
                Some(ty) => quote!(let #ret: #ty = #call;),
                None => quote!(let #ret = #call;),
            };
            (plan.inner_fn.clone(), run)
        }
        None => (body.define.clone(), body.run_into(ret)),
    }
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

/// The match arm of a hit past its refresh point, when the reload runs in the background:
/// clones of the arguments go to a task (or a helper thread), the caller returns the value.
fn on_refresh(
    model: &CachedModel,
    is_async: bool,
    names: &Names,
    shape: &ShapeTokens,
) -> Option<TokenStream> {
    let plan = model.background.as_ref()?;
    let krate = &model.krate;
    let Names {
        value, load, ret, ..
    } = names;
    let (hit, to_result) = (&shape.hit, &shape.to_result);
    let inner = &plan.inner;
    let clones: Vec<_> = plan
        .args
        .iter()
        .map(|arg| internal(&format!("__cache_clone_{arg}")))
        .collect();
    let args = &plan.args;
    let spawn = if is_async {
        let spawn = value_fn(model, "spawn", 3);
        quote! {
            #spawn(#load, move || async move {
                let #ret = #inner(#(#clones),*).await;
                #to_result
            })
        }
    } else {
        let spawn = value_fn(model, "spawn_blocking", 2);
        quote! {
            #spawn(#load, move || {
                let #ret = #inner(#(#clones),*);
                #to_result
            })
        }
    };
    Some(quote! {
        #krate::__private::Lookup::Refresh(#value, #load) => {
            #(let #clones = ::core::clone::Clone::clone(&#args);)*
            #spawn;
            return #hit;
        }
    })
}

/// The generated function.
fn generate(model: &CachedModel, function: &LightFn) -> TokenStream {
    let names = Names::new();
    let krate = &model.krate;
    let is_async = function.sig.asyncness.is_some();
    let shape = shape(model, &names);
    let Names {
        cache,
        function_static,
        value,
        load,
        result,
        ..
    } = &names;

    let bind_cache = cache_expr::bind(model.cache.as_ref(), krate, cache);
    let serde = value_fns(model);
    let lookup = value_fn(model, "lookup", 1);
    let prefix = model.prefix_tokens();
    let pieces = model.key.pieces();
    let markers = model.key.markers();
    let parts = model.key.parts();
    let options = options(model);
    let (errors_are_failures, background) = (shape.errors_are_failures, model.background.is_some());
    let (define_body, run_body) = body(model, function, &names);
    let run_load = run_load(model, is_async, &run_body, &names, &shape);
    let on_refresh = on_refresh(model, is_async, &names, &shape);
    let (hit, finish) = (&shape.hit, &shape.finish);
    let unless = unless(model, &names);
    let condition = model.condition.as_ref().map(|condition| {
        let body = Body::of(function);
        let (define, run) = (&body.define, &body.run);
        let condition = checked_condition(condition);
        quote! {
            if !(#condition) {
                #define
                return #run;
            }
        }
    });

    let LightFn {
        attrs, vis, sig, ..
    } = function;
    quote! {
        #(#attrs)*
        #vis #sig {
            #condition
            #bind_cache
            static #function_static: #krate::__private::CachedFn = #krate::__private::CachedFn::new(
                #krate::__private::KeyTemplate::new(#prefix, #pieces),
                #errors_are_failures,
                #background,
            );
            // The key's marker types live in this block only, out of the body's sight.
            let #load = {
                #markers
                match #lookup(#cache, &#function_static, #serde, #parts, || #options) {
                    #krate::__private::Lookup::Hit(#value) => return #hit,
                    #on_refresh
                    #krate::__private::Lookup::Refresh(_, #load)
                    | #krate::__private::Lookup::Load(#load) => #load,
                }
            };
            #unless
            #define_body
            let #result = #run_load;
            #finish
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
    let serde = match model.level {
        LevelArg::L1 => quote_spanned!(value_ty.span()=> #krate::__private::l1_value::<#value_ty>),
        LevelArg::Both => {
            quote_spanned!(value_ty.span()=> #krate::__private::serde_value_of::<#value_ty>)
        }
    };
    match &model.weight {
        Some(weigher) => {
            let weigher = quote_spanned!(weigher.span()=> #weigher);
            quote!(|| #krate::__private::weighed::<#value_ty>(#serde(), #weigher))
        }
        None => serde,
    }
}

/// `CachedFn::new(..)`: the function's static description.
fn cached_fn(model: &CachedModel, errors_are_failures: bool, background: bool) -> TokenStream {
    let krate = &model.krate;
    let prefix = model.prefix_tokens();
    let pieces = model.key.pieces();
    quote! {
        #krate::__private::CachedFn::new(
            #krate::__private::KeyTemplate::new(#prefix, #pieces),
            #errors_are_failures,
            #background,
        )
    }
}

/// The function, its companions, and the hidden implementation they share (see
/// `companions.rs`).
fn generate_with_companions(
    model: &CachedModel,
    companions: &Companions,
    function: &LightFn,
) -> TokenStream {
    let names = Names::new();
    let krate = &model.krate;
    let is_async = function.sig.asyncness.is_some();
    let shape = shape(model, &names);
    let Names {
        cache,
        value,
        load,
        result,
        ret,
        ..
    } = &names;
    let (mode, parts_var, key) = (
        internal("__cache_mode"),
        internal("__cache_parts"),
        internal("__cache_key"),
    );
    let bind_cache = cache_expr::bind(model.cache.as_ref(), krate, cache);
    let serde = value_fns(model);
    let markers = model.key.markers();
    let parts = model.key.parts();
    let options = options(model);
    let (hit, finish, to_result) = (&shape.hit, &shape.finish, &shape.to_result);
    let background =
        companions.can_own() && (model.refresh_ahead.is_some() || companions.owns_for_free());
    let unless = unless(model, &names);
    let call = companions.call_with_args(is_async);
    let let_ret = match &Body::of(function).ret {
        Some(ty) => quote!(let #ret: #ty = #call;),
        None => quote!(let #ret = #call;),
    };
    let run_load = run_load(model, is_async, &let_ret, &names, &shape);
    let outcome = quote!(#krate::__private::Outcome);

    let on_refresh = background.then(|| {
        let (copies, owned_call) = companions.owned_call(krate, is_async);
        let spawn = if is_async {
            let spawn = value_fn(model, "spawn", 3);
            quote!(#spawn(#load, move || async move { let #ret = #owned_call; #to_result }))
        } else {
            let spawn = value_fn(model, "spawn_blocking", 2);
            quote!(#spawn(#load, move || { let #ret = #owned_call; #to_result }))
        };
        quote! {
            #krate::__private::Lookup::Refresh(#value, #load) => {
                #copies
                #spawn;
                return #outcome::Value(#hit);
            }
        }
    });
    let lookup = value_fn(model, "lookup", 1);
    let refresh_load = value_fn(model, "refresh_load", 1);
    let cached_fn = cached_fn(model, shape.errors_are_failures, background);
    let invalidate = if is_async {
        quote!(#cache.invalidate(&#key).await)
    } else {
        quote!(#cache.invalidate_blocking(&#key))
    };
    let hidden_body = quote! {
        #bind_cache
        static FUNCTION: #krate::__private::CachedFn = #cached_fn;
        #markers
        let #parts_var = #parts;
        if #mode == #krate::__private::Mode::Invalidate {
            let #key = #krate::__private::key_of(&FUNCTION, #parts_var);
            #invalidate;
            return #outcome::Invalidated;
        }
        let #load = if #mode == #krate::__private::Mode::Refresh {
            #refresh_load(#cache, &FUNCTION, #serde, #parts_var, || #options)
        } else {
            match #lookup(#cache, &FUNCTION, #serde, #parts_var, || #options) {
                #krate::__private::Lookup::Hit(#value) => return #outcome::Value(#hit),
                #on_refresh
                #krate::__private::Lookup::Refresh(_, #load)
                | #krate::__private::Lookup::Load(#load) => #load,
            }
        };
        #unless
        let #result = #run_load;
        #outcome::Value(#finish)
    };

    let condition = model.condition.as_ref().map(|condition| {
        let condition = checked_condition(condition);
        quote! {
            if !(#condition) {
                return #call;
            }
        }
    });
    let get = companions.call_hidden(krate, is_async, "Get");
    let refresh = companions.call_hidden(krate, is_async, "Refresh");
    let invalidate_call = companions.call_hidden(krate, is_async, "Invalidate");
    let attrs = crate::companions::inherited_attrs(function);
    let LightFn {
        attrs: fn_attrs,
        vis,
        sig,
        ..
    } = function;
    let hidden_item = companions.hidden_item(function, krate, &mode, hidden_body);
    let uncached_item = companions.uncached_item(function, &attrs);
    let invalidate_item =
        companions.invalidate_item(function, &attrs, quote!(let _ = #invalidate_call;));
    let refresh_item = companions.refresh_item(function, &attrs, quote!(#refresh.value()));
    quote! {
        #(#fn_attrs)*
        #vis #sig {
            #condition
            #get.value()
        }

        #hidden_item
        #uncached_item
        #invalidate_item
        #refresh_item
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
