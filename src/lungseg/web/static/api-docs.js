// /api/docs: Swagger UI (vendored) on this service's OpenAPI description; no inline script (CSP).
window.addEventListener("load", function () {
  "use strict";
  window.SwaggerUIBundle({ url: "/api/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
