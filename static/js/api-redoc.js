// Starts Redoc on /api/redoc/. Redoc (styled-components) inserts <style> elements at run time;
// the page's CSP admits them with this response's nonce, which the browser hides from the
// nonce attribute but gives to the script element itself.
(function () {
  "use strict";
  const script = document.currentScript;
  window.Redoc.init(
    script.dataset.specUrl,
    { nonce: script.nonce },
    document.getElementById("redoc-container"),
  );
})();
