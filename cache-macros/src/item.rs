//! The annotated item: a function with a body, or a compile error.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{Item, ItemFn};

/// Parses the item an attribute is on; `macro_name` is used in the error for anything but a
/// function with a body.
pub(crate) fn parse_fn(item: TokenStream, macro_name: &str) -> syn::Result<ItemFn> {
    let item: Item = syn::parse2(item)?;
    match item {
        Item::Fn(function) => {
            if let Some(constness) = &function.sig.constness {
                return Err(syn::Error::new(
                    constness.span(),
                    format!("#[{macro_name}] cannot be used on a `const fn`"),
                ));
            }
            if let Some(variadic) = &function.sig.variadic {
                return Err(syn::Error::new(
                    variadic.span(),
                    format!("#[{macro_name}] cannot be used on a variadic function"),
                ));
            }
            Ok(function)
        }
        other => Err(syn::Error::new(
            item_span(&other),
            format!(
                "#[{macro_name}] can only be used on a function (`fn` or `async fn`) with a body"
            ),
        )),
    }
}

/// The span of an item's keyword (`struct`, `enum`, ...) or its first token.
fn item_span(item: &Item) -> proc_macro2::Span {
    match item {
        Item::Struct(item) => item.struct_token.span(),
        Item::Enum(item) => item.enum_token.span(),
        Item::Union(item) => item.union_token.span(),
        Item::Trait(item) => item.trait_token.span(),
        Item::Impl(item) => item.impl_token.span(),
        Item::Mod(item) => item.mod_token.span(),
        Item::Static(item) => item.static_token.span(),
        Item::Const(item) => item.const_token.span(),
        Item::Type(item) => item.type_token.span(),
        other => other.to_token_stream().span(),
    }
}
