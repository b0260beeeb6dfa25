//! The compile-time choice of a `#[cached]` function whose refresh-ahead fraction may come
//! from the builder: reload in the background when its receiver and arguments can be owned,
//! inline otherwise. Not a public API (re-exported through `__private`).
//!
//! The generated code lists the receiver and arguments as a nested tuple of [`CloneOf`] (the
//! receiver and by-value arguments: the owned copy is a clone) and [`OwnedOf`] (`&T`
//! arguments: the owned copy is `T::Owned`), and calls `(&&RefreshProbe(list)).refresh_plan()`.
//! Method lookup tries the impl of [`ChooseRefresh`] for `&RefreshProbe` first (which holds
//! when every element has an owned copy that is `Send + 'static`), then the one for
//! `RefreshProbe` (always): the answer is a [`Background`] holding the copies, or an
//! [`Inline`]. Either starts through [`start_refresh`] with a loader taking the copies; the
//! inline one never calls it (its argument types are stand-ins, so the same generated code
//! compiles either way), counts the inline refresh and hands the load back to the caller.
//!
//! Trait selection ignores lifetimes: a `'static` bound cannot send the choice to the inline
//! impl, it fails to compile instead. The macro therefore plans inline, before any dispatch,
//! every argument whose type it sees borrowing beyond a top-level `&` (or naming a type
//! parameter without a `'static` bound); only a receiver type it cannot see is left to the
//! dispatch (see the `#[cached]` docs, Refresh-ahead).

use std::future::Future;
use std::marker::PhantomData;

use crate::__private::{CachedValue, LoadError, LoadGuard, spawn_blocking};
use crate::loaded::Loaded;
use crate::refresh;

/// The receiver or a by-value argument: a background reload gets a clone.
pub struct CloneOf<'a, T>(pub &'a T);

/// A `&T` argument: a background reload gets `T::Owned` (`String` for `&str`) and passes a
/// borrow of it.
pub struct OwnedOf<'a, T: ?Sized>(pub &'a T);

/// A list (`(element, (element, ..., ()))`) whose every element can be copied for a
/// background reload.
pub trait RefreshCopies {
    /// The owned copies, in the same nesting.
    type Owned: Send + 'static;
    /// Takes the copies.
    fn copies(&self) -> Self::Owned;
}

impl RefreshCopies for () {
    type Owned = ();
    fn copies(&self) {}
}

impl<T, Rest> RefreshCopies for (CloneOf<'_, T>, Rest)
where
    T: Clone + Send + 'static,
    Rest: RefreshCopies,
{
    type Owned = (T, Rest::Owned);
    fn copies(&self) -> Self::Owned {
        (self.0.0.clone(), self.1.copies())
    }
}

impl<T, Rest> RefreshCopies for (OwnedOf<'_, T>, Rest)
where
    T: ?Sized + ToOwned<Owned: Send + 'static>,
    Rest: RefreshCopies,
{
    type Owned = (T::Owned, Rest::Owned);
    fn copies(&self) -> Self::Owned {
        (self.0.0.to_owned(), self.1.copies())
    }
}

/// Any list: the stand-in types the loader of an inline plan is written against (never
/// built). A `&T` argument stands as `&T`, which borrows as `T` just like its owned copy.
pub trait RefreshShape {
    /// The stand-ins, in the same nesting.
    type Shape;
}

impl RefreshShape for () {
    type Shape = ();
}

impl<T, Rest: RefreshShape> RefreshShape for (CloneOf<'_, T>, Rest) {
    type Shape = (T, Rest::Shape);
}

impl<'a, T: ?Sized, Rest: RefreshShape> RefreshShape for (OwnedOf<'a, T>, Rest) {
    type Shape = (&'a T, Rest::Shape);
}

/// The receiver and arguments of a call that claimed a refresh, asked how to reload.
pub struct RefreshProbe<L>(pub L);

/// The choice: implemented for `&RefreshProbe` when every element can be owned (the plan is
/// [`Background`], with the copies), and for `RefreshProbe` always (the plan is [`Inline`]).
/// Method lookup on `&&RefreshProbe` tries the first before the second.
pub trait ChooseRefresh {
    /// [`Background`] or [`Inline`].
    type Plan;
    /// The plan.
    fn refresh_plan(&self) -> Self::Plan;
}

impl<L: RefreshCopies> ChooseRefresh for &RefreshProbe<L> {
    type Plan = Background<L::Owned>;
    #[inline]
    fn refresh_plan(&self) -> Background<L::Owned> {
        Background(self.0.copies())
    }
}

impl<L: RefreshShape> ChooseRefresh for RefreshProbe<L> {
    type Plan = Inline<L::Shape>;
    #[inline]
    fn refresh_plan(&self) -> Inline<L::Shape> {
        Inline(PhantomData)
    }
}

/// A background reload with these owned copies of the receiver and arguments.
pub struct Background<O>(O);

/// An inline reload: the receiver or an argument cannot be owned.
pub struct Inline<S>(PhantomData<fn() -> S>);

/// What a plan's loader takes: the copies, or their stand-ins.
pub trait RefreshPlan {
    /// The loader's argument.
    type Copies;
}

impl<O> RefreshPlan for Background<O> {
    type Copies = O;
}

impl<S> RefreshPlan for Inline<S> {
    type Copies = S;
}

/// Marks the plan of an `async fn`: its loader returns a future.
pub struct AsyncFn;

/// Marks the plan of a plain `fn`: its loader returns the result.
pub struct SyncFn;

/// Starts a plan of a function of kind `M` ([`AsyncFn`] or [`SyncFn`]) with its loader `F`.
pub trait StartRefresh<V: 'static, K: 'static, F, M> {
    /// `None`: the reload started in the background, the caller returns the current value.
    /// `Some`: the load, for the caller to reload inline. (`V` is bounded here, not in the
    /// impls, so an unfit value type is reported once, by the generated code's lookup.)
    fn start(self, load: LoadGuard<'_, K, V>, loader: F) -> Option<LoadGuard<'_, K, V>>
    where
        V: CachedValue;
}

/// The reload runs on a blocking thread (of the current tokio runtime, or a helper thread
/// outside one) that builds the future from the copies and blocks on it: the future need not
/// be `Send`.
impl<O, V, K, E, F, Fut> StartRefresh<V, K, F, AsyncFn> for Background<O>
where
    O: Send + 'static,
    V: 'static,
    K: Send + Sync + 'static,
    F: FnOnce(O) -> Fut + Send + 'static,
    Fut: Future<Output = Result<V, LoadError<E>>>,
{
    fn start(self, load: LoadGuard<'_, K, V>, loader: F) -> Option<LoadGuard<'_, K, V>>
    where
        V: CachedValue,
    {
        let copies = self.0;
        let (inner, store, key, options) = load.into_background();
        let loader = move || async move {
            loader(copies)
                .await
                .map(Loaded::new)
                .map_err(LoadError::dropped)
        };
        refresh::spawn_unsend_classified(inner, store, key, options, loader);
        None
    }
}

/// The reload runs on a helper thread.
impl<O, V, K, E, F> StartRefresh<V, K, F, SyncFn> for Background<O>
where
    O: Send + 'static,
    V: 'static,
    K: Send + Sync + 'static,
    F: FnOnce(O) -> Result<V, LoadError<E>> + Send + 'static,
{
    fn start(self, load: LoadGuard<'_, K, V>, loader: F) -> Option<LoadGuard<'_, K, V>>
    where
        V: CachedValue,
    {
        let copies = self.0;
        spawn_blocking::<V, K, E>(load, move || loader(copies));
        None
    }
}

/// Counts the inline refresh and hands the load back; `loader` is never called.
impl<S, V: 'static, K: 'static, F, M> StartRefresh<V, K, F, M> for Inline<S> {
    fn start(self, load: LoadGuard<'_, K, V>, loader: F) -> Option<LoadGuard<'_, K, V>>
    where
        V: CachedValue,
    {
        drop(loader);
        Some(load.counted_inline())
    }
}

/// Starts the chosen `plan` of a function of kind `M` (the generated code spells `V` at the
/// return type, so an unfit value type is reported once, there). Never inlined: a refresh is
/// rare, and its code inlined into the cached function can cost that function's hits.
#[inline(never)]
pub fn start_refresh<'c, V, M, K, P, F, R>(
    plan: P,
    load: LoadGuard<'c, K, V>,
    loader: F,
) -> Option<LoadGuard<'c, K, V>>
where
    V: CachedValue,
    K: 'static,
    P: RefreshPlan + StartRefresh<V, K, F, M>,
    F: FnOnce(P::Copies) -> R,
{
    plan.start(load, loader)
}
