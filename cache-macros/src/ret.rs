//! The annotated function's return type, classified syntactically by its last path segment.

use syn::visit_mut::VisitMut;
use syn::{GenericArgument, PathArguments, ReturnType, Type};

/// How a return value maps to a cached value.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    /// `Result<T, E>`: only `Ok(T)` is cached.
    Result,
    /// `Result<Option<T>, E>` without `cache_none`: only `Ok(Some(T))` is cached; `Ok(None)`
    /// follows the `Option` rule (returned, not cached, not a failure).
    ResultOption,
    /// `Option<T>` without `cache_none`: only `Some(T)` is cached.
    Option,
    /// Anything else (or `Option<T>` with `cache_none`): the whole value is cached.
    Plain,
}

/// The return type and what is cached of it.
#[derive(Debug, Clone)]
pub(crate) struct Ret {
    /// The declared return type (`()` when there is none).
    pub(crate) ty: Type,
    pub(crate) shape: Shape,
    /// The cached value type: `T` of `Result<T, E>`, `Result<Option<T>, E>` and `Option<T>`,
    /// else the whole type.
    pub(crate) value: Type,
}

fn strip(ty: &Type) -> &Type {
    match ty {
        Type::Paren(inner) => strip(&inner.elem),
        Type::Group(inner) => strip(&inner.elem),
        ty => ty,
    }
}

/// The first type argument of `ty` if its last path segment is `name` (`Result`, `Option`).
fn first_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(path) = strip(ty) else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

impl Ret {
    /// Classifies `output`; `cache_none` makes an `Option` a plain value.
    pub(crate) fn of(output: &ReturnType, cache_none: bool) -> Self {
        let ty: Type = match output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        };
        if let Some(ok) = first_arg(&ty, "Result") {
            if !cache_none && let Some(some) = first_arg(ok, "Option") {
                return Self {
                    value: some.clone(),
                    shape: Shape::ResultOption,
                    ty,
                };
            }
            return Self {
                value: ok.clone(),
                shape: Shape::Result,
                ty,
            };
        }
        if !cache_none && let Some(some) = first_arg(&ty, "Option") {
            return Self {
                value: some.clone(),
                shape: Shape::Option,
                ty,
            };
        }
        Self {
            value: ty.clone(),
            shape: Shape::Plain,
            ty,
        }
    }

    /// Whether the return type is `Result<..>` (for `#[invalidate]`: only after `Ok`).
    pub(crate) fn is_result(output: &ReturnType) -> bool {
        matches!(output, ReturnType::Type(_, ty) if first_arg(ty, "Result").is_some())
    }
}

/// The first part of `ty` that borrows for less than `'static` (a reference such as `&T` or
/// `&'a T`, or a lifetime argument such as `Cow<'a, str>`): a cached value outlives the call,
/// so it must own its data.
pub(crate) fn borrowed_part(ty: &Type) -> Option<proc_macro2::Span> {
    struct Finder(Option<proc_macro2::Span>);
    impl VisitMut for Finder {
        fn visit_type_reference_mut(&mut self, reference: &mut syn::TypeReference) {
            let is_static = reference
                .lifetime
                .as_ref()
                .is_some_and(|lifetime| lifetime.ident == "static");
            if !is_static && self.0.is_none() {
                self.0 = Some(syn::spanned::Spanned::span(&*reference));
            }
            syn::visit_mut::visit_type_mut(self, &mut reference.elem);
        }
        fn visit_lifetime_mut(&mut self, lifetime: &mut syn::Lifetime) {
            if lifetime.ident != "static" && self.0.is_none() {
                self.0 = Some(lifetime.span());
            }
        }
    }
    let mut finder = Finder(None);
    finder.visit_type_mut(&mut ty.clone());
    finder.0
}

/// The error for a borrowed value type, at its borrowed part (`macro_name`: `cached` or
/// `cache_put`).
pub(crate) fn borrowed_error(span: proc_macro2::Span, macro_name: &str) -> syn::Error {
    syn::Error::new(
        span,
        format!(
            "#[{macro_name}] cannot cache a borrowed value: a cached value outlives the call and \
             every hit returns a clone of it; return an owned value instead (`T` rather than \
             `&T`, `String` rather than `&str`, or `Arc<T>` to share one value cheaply)"
        ),
    )
}

/// Whether `ty` mentions `impl Trait` (which cannot be written in a `let` or a closure).
pub(crate) fn has_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl VisitMut for Finder {
        fn visit_type_impl_trait_mut(&mut self, _: &mut syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    finder.visit_type_mut(&mut ty.clone());
    finder.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    fn shape(ret: ReturnType, cache_none: bool) -> (String, String) {
        let ret = Ret::of(&ret, cache_none);
        let shape = match ret.shape {
            Shape::Result => "result",
            Shape::ResultOption => "result option",
            Shape::Option => "option",
            Shape::Plain => "plain",
        };
        (shape.to_owned(), ret.value.to_token_stream().to_string())
    }

    #[test]
    fn classifies() {
        let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(
            shape(syn::parse_quote!(-> Result<User, DbError>), false),
            s("result", "User")
        );
        assert_eq!(
            shape(syn::parse_quote!(-> std::io::Result<Vec<u8>>), false),
            s("result", "Vec < u8 >")
        );
        assert_eq!(
            shape(syn::parse_quote!(-> Option<u8>), false),
            s("option", "u8")
        );
        assert_eq!(
            shape(syn::parse_quote!(-> Result<Option<User>, E>), false),
            s("result option", "User")
        );
        assert_eq!(
            shape(syn::parse_quote!(-> Result<Option<User>, E>), true),
            s("result", "Option < User >")
        );
        assert_eq!(
            shape(syn::parse_quote!(-> Option<u8>), true),
            s("plain", "Option < u8 >")
        );
        assert_eq!(
            shape(syn::parse_quote!(-> String), false),
            s("plain", "String")
        );
        assert_eq!(shape(ReturnType::Default, false), s("plain", "()"));
        assert!(has_impl_trait(&syn::parse_quote!(Vec<impl Sized>)));
        let borrowed = |ty: Type| borrowed_part(&ty).is_some();
        assert!(borrowed(syn::parse_quote!(&User)));
        assert!(borrowed(syn::parse_quote!(&'a str)));
        assert!(borrowed(syn::parse_quote!(Vec<&str>)));
        assert!(borrowed(syn::parse_quote!(Cow<'a, str>)));
        assert!(borrowed(syn::parse_quote!(&'static Vec<&'a str>)));
        assert!(!borrowed(syn::parse_quote!(&'static str)));
        assert!(!borrowed(syn::parse_quote!(Cow<'static, str>)));
        assert!(!borrowed(syn::parse_quote!(Arc<User>)));
        assert!(!has_impl_trait(&syn::parse_quote!(Vec<u8>)));
    }
}
