//! The annotated function's return type, classified syntactically by its last path segment.

use syn::visit_mut::VisitMut;
use syn::{GenericArgument, PathArguments, ReturnType, Type};

/// How a return value maps to a cached value.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    /// `Result<T, E>`: only `Ok(T)` is cached.
    Result,
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
    /// The cached value type: `T` of `Result<T, E>` / `Option<T>`, else the whole type.
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
            shape(syn::parse_quote!(-> Option<u8>), true),
            s("plain", "Option < u8 >")
        );
        assert_eq!(
            shape(syn::parse_quote!(-> String), false),
            s("plain", "String")
        );
        assert_eq!(shape(ReturnType::Default, false), s("plain", "()"));
        assert!(has_impl_trait(&syn::parse_quote!(Vec<impl Sized>)));
        assert!(!has_impl_trait(&syn::parse_quote!(Vec<u8>)));
    }
}
