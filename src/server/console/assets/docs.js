// /docs: the OpenAPI document, fetched with the token like any API call,
// rendered by the embedded Redoc (no network beyond this server).
'use strict';

Maestro.json('/openapi.json')
  .then((spec) => Redoc.init(spec, { disableSearch: true, hideDownloadButton: false }, document.getElementById('redoc')))
  .catch((e) => { document.getElementById('redoc').textContent = 'Cannot read /openapi.json: ' + e.message; });
