"""Provider clients for loan enrichment (no Django here).

Business registries (GLEIF today; Companies House, OpenCorporates later) implement
:class:`~enrichment.providers.registry.RegistryProvider`; credit bureaus implement
:class:`~enrichment.providers.bureau.BureauProvider`. Both sit on
:class:`~enrichment.providers.http.ProviderHttpClient`, which owns timeouts, retries,
rate limiting, the circuit breaker and the call records that form the chain of custody.
"""
