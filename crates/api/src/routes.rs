//! Route registration that records, for every route, the policy its
//! handler demands. The policy is read from the handler's own signature
//! (its `Authorized<P>` argument), so the table the permission matrix is
//! built from cannot drift from what the handlers enforce.

use actix_web::dev::HttpServiceFactory;
use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, web};
use idstore_auth::Policy;

use crate::auth::Authorized;

/// One registered route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub method: Method,
    /// The path pattern, with `{name}` placeholders.
    pub path: &'static str,
    /// The policy's name; `None` for routes open without a token.
    pub policy: Option<&'static str>,
}

/// Handler arguments that begin with an [`Authorized`] extractor.
pub trait Guarded {
    const POLICY: &'static str;
}

macro_rules! guarded {
    ($($arg:ident),*) => {
        impl<P: Policy, $($arg),*> Guarded for (Authorized<P>, $($arg,)*) {
            const POLICY: &'static str = P::NAME;
        }
    };
}
guarded!();
guarded!(A);
guarded!(A, B);
guarded!(A, B, C);
guarded!(A, B, C, D);

/// Routes in registration order, grouped by path. Order matters: fixed
/// paths registered first win over `{placeholder}` paths.
#[derive(Default)]
pub struct Routes {
    resources: Vec<(&'static str, Vec<(RouteInfo, actix_web::Route)>)>,
}

/// The methods of one path.
pub struct Resource<'a> {
    path: &'static str,
    methods: &'a mut Vec<(RouteInfo, actix_web::Route)>,
}

impl Routes {
    /// Starts (or continues) the methods of `path`.
    pub fn at(&mut self, path: &'static str) -> Resource<'_> {
        let at = match self.resources.iter().position(|(p, _)| *p == path) {
            Some(at) => at,
            None => {
                self.resources.push((path, Vec::new()));
                self.resources.len() - 1
            }
        };
        Resource {
            path,
            methods: &mut self.resources[at].1,
        }
    }

    /// Every route, in registration order.
    pub fn table(&self) -> Vec<RouteInfo> {
        self.resources
            .iter()
            .flat_map(|(_, methods)| methods.iter().map(|(info, _)| info.clone()))
            .collect()
    }
}

/// `get`, `post`...: [`Resource::guarded`] for one method each.
macro_rules! verbs {
    ($($name:ident => $method:ident),* $(,)?) => {$(
        pub fn $name<F, Args>(&mut self, handler: F) -> &mut Self
        where
            F: Handler<Args>,
            Args: FromRequest + Guarded + 'static,
            F::Output: Responder + 'static,
        {
            self.guarded(Method::$method, handler)
        }
    )*};
}

impl Resource<'_> {
    fn add<F, Args>(&mut self, method: Method, policy: Option<&'static str>, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::route().method(method.clone()).to(handler);
        let info = RouteInfo {
            method,
            path: self.path,
            policy,
        };
        self.methods.push((info, route));
    }

    /// A route whose handler demands a token holding its policy.
    pub fn guarded<F, Args>(&mut self, method: Method, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + Guarded + 'static,
        F::Output: Responder + 'static,
    {
        self.add(method, Some(Args::POLICY), handler);
        self
    }

    /// A route open without a token (health, discovery, the token endpoint).
    pub fn public<F, Args>(&mut self, method: Method, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(method, None, handler);
        self
    }

    verbs! {
        get => GET,
        post => POST,
        put => PUT,
        delete => DELETE,
    }
}

/// Lets a module's route list be handed to actix directly.
impl HttpServiceFactory for Routes {
    fn register(self, config: &mut actix_web::dev::AppService) {
        for (path, methods) in self.resources {
            let mut resource = web::resource(path);
            for (_, route) in methods {
                resource = resource.route(route);
            }
            resource.register(config);
        }
    }
}
