// Starts Swagger UI on /api/docs (leitstand/web/apidocs.py). A file rather than an inline
// script: the page's CSP runs scripts from our own server only. Copied, not bundled, by build.mjs.
const root = document.getElementById("swagger-ui");
window.ui = window.SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null, // no badge from validator.swagger.io: the page talks to nobody but us
  presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
});
