// The portal's one script (service-kit). Pages work without it; it only adds conveniences:
// - a form with data-confirm asks before it is sent (deleting a PC, revoking a key);
// - a <select> or checkbox with data-autosubmit sends its form when changed (filters);
// - an element with data-refresh="N" reloads the page every N seconds while it is visible
//   (a batch's progress), stopping once the element is gone from the new page.
"use strict";
document.addEventListener("submit", function (e) {
  var form = e.target;
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) { e.preventDefault(); }
});
document.addEventListener("change", function (e) {
  var el = e.target;
  if (el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) { el.form.requestSubmit(); }
});
(function () {
  var el = document.querySelector("[data-refresh]");
  if (!el) { return; }
  var secs = Math.max(2, parseInt(el.getAttribute("data-refresh"), 10) || 5);
  window.setTimeout(function () { if (!document.hidden) { window.location.reload(); } }, secs * 1000);
})();
