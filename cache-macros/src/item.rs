//! The annotated item, parsed lightly: attributes, visibility and signature, with the body
//! kept as the tokens it was written as (never parsed into statements, as tokio's and
//! tracing's attribute macros do). A body with a syntax or type error is re-emitted as is, so
//! rustc reports only that error, at its place, and the IDE still sees the function.

use proc_macro2::{Delimiter, Group, TokenStream};
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Attribute, Item, Signature, Visibility};

/// A function with a body the macro does not look into.
pub(crate) struct LightFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    /// The body: a brace-delimited group, unparsed.
    pub(crate) block: Group,
}

impl Parse for LightFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse()?;
        let block: Group = input.parse()?;
        if block.delimiter() != Delimiter::Brace {
            return Err(syn::Error::new(
                block.span(),
                "expected the function's body",
            ));
        }
        Ok(Self {
            attrs,
            vis,
            sig,
            block,
        })
    }
}

impl ToTokens for LightFn {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let Self {
            attrs,
            vis,
            sig,
            block,
        } = self;
        tokens.extend(quote!(#(#attrs)* #vis #sig #block));
    }
}

/// Parses the item an attribute is on; `macro_name` is used in the error for anything but a
/// function with a body.
pub(crate) fn parse_fn(item: TokenStream, macro_name: &str) -> syn::Result<LightFn> {
    let function = match syn::parse2::<LightFn>(item.clone()) {
        Ok(function) => function,
        // Not a function: say what it is, at its keyword.
        Err(error) => {
            return Err(match syn::parse2::<Item>(item) {
                Ok(Item::Fn(_)) | Err(_) => error,
                Ok(other) => syn::Error::new(
                    item_span(&other),
                    format!(
                        "#[{macro_name}] can only be used on a function (`fn` or `async fn`) \
                         with a body"
                    ),
                ),
            });
        }
    };
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
