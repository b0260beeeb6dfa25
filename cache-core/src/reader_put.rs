//! Support for `#[cache_put(reader)]`: the put names the `#[cached]` function it feeds, and
//! that function's companion `__{reader}_put_plan` renders the key and options from the put's
//! arguments (by name) and says which cache, level and value type the entry has.
//!
//! The two expansions agree on argument names through types: the name `id` is the type
//! `(Ch<'i'>, Ch<'d'>)`, and the put implements [`PutArg`] of that type for a local struct of
//! references to its arguments. A name the put lacks is an unmet bound of the companion; a
//! value type other than the reader's is an unmet [`PlanFor`] bound at the put's return type.

use std::marker::PhantomData;

use crate::__private::{CachedValue, EntryOptions, SerdeValue};
use crate::cache::Cache;

/// One character of an argument name, as a type.
pub struct Ch<const C: char>;

/// The argument of a `#[cache_put]` function named `Name` (a tuple of [`Ch`]).
#[diagnostic::on_unimplemented(
    message = "this #[cache_put] function has no argument that the reader's key or tags name",
    label = "the reader's key is rendered from this function's arguments",
    note = "the reader's bound below shows its key or tags; the name missing here, spelt as a type, is `{Name}`: give the function an argument of that name, or use the free-standing form `#[cache_put(key_prefix = \"..\", key = \"..\")]`"
)]
pub trait PutArg<Name> {
    /// The argument's borrowed form (`str` for a `&str` argument).
    type Value: ?Sized;
    /// A reference to the argument.
    fn put_arg(&self) -> &Self::Value;
}

/// A reader whose key or tags use a field path or `self`, or whose `cache` is not a static or
/// a field of `self` (a call, an argument, an `.await`):
/// its companion cannot render the key from a put's arguments. Never implemented.
#[diagnostic::on_unimplemented(
    message = "this reader cannot be named by #[cache_put]: its key or tags use a field path or `self`, or its `cache` is not a static or a field of `self`",
    label = "the reader named here",
    note = "use the free-standing form `#[cache_put(key_prefix = \"..\", key = \"..\", cache = ..)]` with the reader's prefix and key"
)]
pub trait PutReaderSupported {}

/// The entry a put writes: level `L2` ([`Both`]) or this process only ([`L1Only`]).
pub struct Both;
/// See [`Both`].
pub struct L1Only;

/// Where and how a `#[cache_put(reader)]` stores its value of type `V`.
pub struct PutPlan<'c, V, L> {
    cache: &'c Cache,
    key: String,
    options: EntryOptions,
    types: PhantomData<fn() -> (V, L)>,
}

/// The reader companion's answer.
pub fn put_plan<V, L>(cache: &Cache, key: String, options: EntryOptions) -> PutPlan<'_, V, L> {
    PutPlan {
        cache,
        key,
        options,
        types: PhantomData,
    }
}

impl<V, L> PutPlan<'_, V, L> {
    /// The put's own `ttl` instead of the reader's.
    pub fn ttl(mut self, ttl: std::time::Duration) -> Self {
        self.options = self.options.ttl(ttl);
        self
    }

    /// The put's own tags instead of the reader's.
    pub fn tags(mut self, tags: impl IntoIterator<Item = String>) -> Self {
        self.options = self.options.tags(tags);
        self
    }

    /// Another cache than the reader's (the put's `cache = ..`).
    pub fn cache(self, cache: &Cache) -> PutPlan<'_, V, L> {
        PutPlan {
            cache,
            key: self.key,
            options: self.options,
            types: PhantomData,
        }
    }
}

impl<V: CachedValue + SerdeValue> PutPlan<'_, V, Both> {
    /// Stores `value` (L1, L2 and every other process's L1).
    pub async fn store(self, value: V) {
        crate::__private::put(self.cache, self.key, value, self.options).await;
    }

    /// Blocking form of [`store`](Self::store).
    pub fn store_blocking(self, value: V) {
        crate::__private::put_blocking(self.cache, self.key, value, self.options);
    }
}

impl<V: CachedValue> PutPlan<'_, V, L1Only> {
    /// Stores `value` in this process's L1.
    pub async fn store(self, value: V) {
        crate::__private::put_l1(self.cache, self.key, value, self.options).await;
    }

    /// Blocking form of [`store`](Self::store).
    pub fn store_blocking(self, value: V) {
        crate::__private::put_l1_blocking(self.cache, self.key, value, self.options);
    }
}

/// A plan that stores values of type `V`.
#[diagnostic::on_unimplemented(
    message = "this #[cache_put] stores `{V}`, but its reader caches another value type",
    label = "the value stored for this return type",
    note = "the reader would never return a value of this type: return what the reader caches (the `Ok` of a `Result`, the `Some` of an `Option`, or the value)"
)]
pub trait PlanFor<V> {}

impl<V, L> PlanFor<V> for PutPlan<'_, V, L> {}

/// Any plan, whatever its value type: its level, and the plan for another value type (so
/// that a value type mismatch is reported once, by [`PlanFor`], not again where the value is
/// stored).
pub trait AnyPlan<'c> {
    /// The plan's level.
    type Level;
    /// The same plan for values of type `V`.
    fn retyped<V>(self) -> PutPlan<'c, V, Self::Level>;
}

impl<'c, W, L> AnyPlan<'c> for PutPlan<'c, W, L> {
    type Level = L;
    fn retyped<V>(self) -> PutPlan<'c, V, L> {
        PutPlan {
            cache: self.cache,
            key: self.key,
            options: self.options,
            types: PhantomData,
        }
    }
}

/// Checks that `plan` stores the put's value type `V` (the generated code spells `V` at the
/// put's return type, where a mismatch is reported).
pub fn checked_plan<'c, V, P: PlanFor<V> + AnyPlan<'c>>(plan: P) -> PutPlan<'c, V, P::Level> {
    plan.retyped()
}
