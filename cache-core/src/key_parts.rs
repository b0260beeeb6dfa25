//! The key of an annotated function, in core: the literal shape of its template (a `static`
//! [`KeyTemplate`] the macro writes) and its argument values (a tuple of references, which
//! implements [`KeyParts`]).
//!
//! This is the one place keys are rendered: `#[cached]` (its miss path), `#[invalidate(keys)]`,
//! tags and patterns all go through [`KeyTemplate::render`] or [`render_text`]. A hit never
//! renders: it hashes the borrowed parts and compares them with the stored owned tuple, as
//! quick_cache's `Equivalent` compares a borrowed key with an owned one.

use std::borrow::Borrow;
use std::fmt::Display;
use std::hash::Hash;

use crate::key::{KeyBuilder, escape_key_part};

/// One piece of a template: literal text, or the value of the part at an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// Literal text, kept as is (in a pattern, it may be glob syntax).
    Text(&'static str),
    /// The escaped rendering of the part at this index of the parts tuple.
    Part(usize),
}

/// A key's fixed shape: a literal prefix, then pieces (`":", part 0, ":", part 1` for the
/// default key of a two-argument function).
#[derive(Debug)]
pub struct KeyTemplate {
    prefix: &'static str,
    pieces: &'static [Piece],
}

impl KeyTemplate {
    /// A template with a literal prefix and pieces.
    pub const fn new(prefix: &'static str, pieces: &'static [Piece]) -> Self {
        Self { prefix, pieces }
    }

    /// The literal prefix (`"user:profile"`).
    pub fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// Renders the key of `parts`, hashed when it is longer than
    /// [`MAX_KEY_LEN`](crate::MAX_KEY_LEN) (see [`KeyBuilder::finish`]).
    pub fn render(&self, parts: &impl RenderParts) -> String {
        self.render_with(|index, out| parts.render_part(index, out))
    }

    /// Renders the key with `render_part(index, out)` appending part `index`.
    fn render_with(&self, render_part: impl Fn(usize, &mut String)) -> String {
        let mut key = KeyBuilder::new(self.prefix);
        for piece in self.pieces {
            match piece {
                Piece::Text(text) => key.push_literal(text),
                Piece::Part(index) => render_part(*index, key.buffer()),
            }
        }
        key.finish()
    }
}

/// Renders pieces without a prefix and without hashing (tags and patterns).
pub fn render_text(pieces: &[Piece], parts: &impl RenderParts) -> String {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Part(index) => parts.render_part(*index, &mut out),
        }
    }
    out
}

/// Renders a key's owned parts as its text.
pub type OwnedText<O> = Box<dyn Fn(&O) -> String + Send + Sync>;

/// Feeds a key's owned parts to a hasher, as [`KeyParts::hash_parts`] feeds the borrowed ones
/// (so a store can recompute an entry's hash instead of keeping it).
pub type OwnedHash<O> = Box<dyn Fn(&O, &mut foldhash::fast::FoldHasher<'static>) + Send + Sync>;

/// What a store needs to know of its owned keys: their text and their hash.
pub struct OwnedKeyFns<O> {
    /// Renders the key's text.
    pub text: OwnedText<O>,
    /// Hashes the key as its borrowed parts hash.
    pub hash: OwnedHash<O>,
}

/// Values interpolated into a template: a tuple of references to `Display` values.
pub trait RenderParts {
    /// Appends the escaped rendering of part `index` to `out` (nothing for an index out of
    /// range, which the macros never generate).
    fn render_part(&self, index: usize, out: &mut String);
}

/// The key parts of a call: hashed and compared by reference on a hit, turned into an owned
/// tuple (what L1 keeps) and rendered on a miss.
pub trait KeyParts: RenderParts {
    /// The owned form kept in L1 (`(u64, String)` for `(&u64, &str)`).
    type Owned: Send + Sync + 'static;
    /// Feeds every part to `state` (the store's hasher).
    fn hash_parts(&self, state: &mut foldhash::fast::FoldHasher<'static>);
    /// Whether these parts equal a stored owned tuple.
    fn equals(&self, owned: &Self::Owned) -> bool;
    /// The owned tuple.
    fn to_owned_parts(&self) -> Self::Owned;
    /// Renders and hashes owned parts (the store keeps these instead of each key's text and
    /// hash).
    fn owned_fns(&self, template: &'static KeyTemplate) -> OwnedKeyFns<Self::Owned>;
}

/// One checked key part: a reference and the operations its type supports, captured by
/// [`Part::new`] where the type's bounds are checked. The tuple impls below need no bounds of
/// their own, so a type that cannot be a key part is reported once, where the part is made.
pub struct Part<'a, T: ?Sized, O> {
    value: &'a T,
    hash: fn(&T, &mut foldhash::fast::FoldHasher<'static>),
    hash_owned: fn(&O, &mut foldhash::fast::FoldHasher<'static>),
    equals: fn(&T, &O) -> bool,
    to_owned: fn(&T) -> O,
    render: fn(&T, &mut String),
    render_owned: fn(&O, &mut String),
}

impl<'a, T> Part<'a, T, T::Owned>
where
    T: ?Sized + Display + Hash + Eq + ToOwned<Owned: Send + Sync + 'static>,
{
    /// Captures a part and the operations of its type.
    #[inline(always)]
    pub fn new(value: &'a T) -> Self {
        Self {
            value,
            hash: |value, state| value.hash(state),
            hash_owned: |owned, state| {
                let value: &T = owned.borrow();
                value.hash(state);
            },
            equals: |value, owned| owned.borrow() == value,
            to_owned: T::to_owned,
            render: |value, out| escape_key_part(out, &value),
            render_owned: |owned, out| {
                let value: &T = owned.borrow();
                escape_key_part(out, &value);
            },
        }
    }
}

impl<T: ?Sized, O> Clone for Part<'_, T, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized, O> Copy for Part<'_, T, O> {}

impl RenderParts for () {
    fn render_part(&self, _: usize, _: &mut String) {}
}

impl KeyParts for () {
    type Owned = ();
    #[inline]
    fn hash_parts(&self, _: &mut foldhash::fast::FoldHasher<'static>) {}
    #[inline]
    fn equals(&self, _: &()) -> bool {
        true
    }
    #[inline]
    fn to_owned_parts(&self) {}
    fn owned_fns(&self, template: &'static KeyTemplate) -> OwnedKeyFns<()> {
        OwnedKeyFns {
            text: Box::new(move |_| template.render_with(|_, _| {})),
            hash: Box::new(|_, _| {}),
        }
    }
}

macro_rules! tuple_parts {
    ($($name:ident $owned:ident $index:tt),+) => {
        impl<$($name: ?Sized + Display),+> RenderParts for ($(&$name,)+) {
            fn render_part(&self, index: usize, out: &mut String) {
                match index {
                    $($index => escape_key_part(out, &self.$index),)+
                    _ => {}
                }
            }
        }

        impl<$($name: ?Sized, $owned),+> RenderParts for ($(Part<'_, $name, $owned>,)+) {
            fn render_part(&self, index: usize, out: &mut String) {
                match index {
                    $($index => (self.$index.render)(self.$index.value, out),)+
                    _ => {}
                }
            }
        }

        impl<$($name: ?Sized, $owned: Send + Sync + 'static),+> KeyParts for ($(Part<'_, $name, $owned>,)+) {
            type Owned = ($($owned,)+);
            #[inline(always)]
            fn hash_parts(&self, state: &mut foldhash::fast::FoldHasher<'static>) {
                $((self.$index.hash)(self.$index.value, state);)+
            }
            #[inline(always)]
            fn equals(&self, owned: &Self::Owned) -> bool {
                $((self.$index.equals)(self.$index.value, &owned.$index))&&+
            }
            fn to_owned_parts(&self) -> Self::Owned {
                ($((self.$index.to_owned)(self.$index.value),)+)
            }
            fn owned_fns(
                &self,
                template: &'static KeyTemplate,
            ) -> OwnedKeyFns<Self::Owned> {
                let render = ($(self.$index.render_owned,)+);
                let hash = ($(self.$index.hash_owned,)+);
                OwnedKeyFns {
                    text: Box::new(move |owned: &Self::Owned| {
                        template.render_with(|index, out| match index {
                            $($index => (render.$index)(&owned.$index, out),)+
                            _ => {}
                        })
                    }),
                    hash: Box::new(move |owned: &Self::Owned, state| {
                        $((hash.$index)(&owned.$index, state);)+
                    }),
                }
            }
        }
    };
}

tuple_parts!(A OA 0);
tuple_parts!(A OA 0, B OB 1);
tuple_parts!(A OA 0, B OB 1, C OC 2);
tuple_parts!(A OA 0, B OB 1, C OC 2, D OD 3);
tuple_parts!(A OA 0, B OB 1, C OC 2, D OD 3, E OE 4);
tuple_parts!(A OA 0, B OB 1, C OC 2, D OD 3, E OE 4, F OF 5);
tuple_parts!(A OA 0, B OB 1, C OC 2, D OD 3, E OE 4, F OF 5, G OG 6);
tuple_parts!(A OA 0, B OB 1, C OC 2, D OD 3, E OE 4, F OF 5, G OG 6, H OH 7);
tuple_parts!(A OA 0, B OB 1, C OC 2, D OD 3, E OE 4, F OF 5, G OG 6, H OH 7, I OI 8);
tuple_parts!(A OA 0, B OB 1, C OC 2, D OD 3, E OE 4, F OF 5, G OG 6, H OH 7, I OI 8, J OJ 9);
tuple_parts!(A OA 0, B OB 1, C OC 2, D OD 3, E OE 4, F OF 5, G OG 6, H OH 7, I OI 8, J OJ 9, K OK 10);
tuple_parts!(A OA 0, B OB 1, C OC 2, D OD 3, E OE 4, F OF 5, G OG 6, H OH 7, I OI 8, J OJ 9, K OK 10, L OL 11);

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: KeyTemplate = KeyTemplate::new(
        "p",
        &[
            Piece::Text(":"),
            Piece::Part(0),
            Piece::Text(":"),
            Piece::Part(1),
        ],
    );

    #[test]
    fn renders_like_the_key_builder() {
        let parts = (Part::new(&7u64), Part::new("a:b"));
        let built = KeyBuilder::new("p").part(&7u64).part(&"a:b").finish();
        assert_eq!(TWO.render(&parts), built);
        assert_eq!(TWO.render(&parts), "p:7:a%3Ab");
    }

    #[test]
    fn owned_parts_render_and_hash_as_the_borrowed_ones() {
        use std::hash::{BuildHasher, Hasher};
        static TEMPLATE: KeyTemplate = TWO;
        let parts = (Part::new(&7u64), Part::new("a:b"));
        let fns = parts.owned_fns(&TEMPLATE);
        let owned = parts.to_owned_parts();
        assert_eq!((fns.text)(&owned), TWO.render(&parts));
        let hasher = foldhash::fast::RandomState::default();
        let (mut borrowed_state, mut owned_state) = (hasher.build_hasher(), hasher.build_hasher());
        parts.hash_parts(&mut borrowed_state);
        (fns.hash)(&owned, &mut owned_state);
        assert_eq!(borrowed_state.finish(), owned_state.finish());
        let other = (Part::new(&8u64), Part::new("a:b")).to_owned_parts();
        let mut other_state = hasher.build_hasher();
        (fns.hash)(&other, &mut other_state);
        assert_ne!(other_state.finish(), borrowed_state.finish());
    }

    #[test]
    fn compares_borrowed_with_owned() {
        let parts = (Part::new(&7u64), Part::new("ada"));
        let owned = parts.to_owned_parts();
        assert_eq!(owned, (7, "ada".to_owned()));
        assert!(parts.equals(&owned));
        assert!(!(Part::new(&7u64), Part::new("bob")).equals(&owned));
    }

    #[test]
    fn text_keeps_literals_and_escapes_values() {
        let pieces = [Piece::Text("user:"), Piece::Part(0), Piece::Text("*")];
        assert_eq!(render_text(&pieces, &("a*b",)), "user:a%2Ab*");
    }
}
