// opsflow's web app: the little that needs a script. Every page and form
// also works without it; htmx (loaded beside this) makes forms answer in
// place. No inline script anywhere: the pages' Content-Security-Policy
// allows only these files.
document.documentElement.classList.add('js');
(function () {
  'use strict';
  function firstInput(el) {
    return el.querySelector('[aria-invalid=true], input:not([type=hidden]), textarea, select');
  }
  function init(root) {
    if (!root.querySelectorAll) return;
    root.querySelectorAll('[data-dialog]').forEach(function (b) {
      if (b.dataset.bound) return;
      b.dataset.bound = '1';
      b.addEventListener('click', function () {
        var d = document.getElementById(b.dataset.dialog);
        if (d && !d.open) {
          d.showModal();
          var f = firstInput(d);
          if (f) f.focus();
        }
      });
    });
    root.querySelectorAll('dialog [data-close]').forEach(function (b) {
      if (b.dataset.bound) return;
      b.dataset.bound = '1';
      b.addEventListener('click', function () { b.closest('dialog').close(); });
    });
    // A dialog whose form was refused opens again, as a modal.
    root.querySelectorAll('dialog[data-open]').forEach(function (d) {
      if (!d.open) d.showModal();
      var f = firstInput(d);
      if (f) f.focus();
    });
    // A plain form (no htmx) is sent once: a second click would send it
    // again, and its answer would replace the first one's.
    root.querySelectorAll('form[data-once]').forEach(function (f) {
      if (f.dataset.bound) return;
      f.dataset.bound = '1';
      f.addEventListener('submit', function () {
        setTimeout(function () {
          f.querySelectorAll('button[type=submit]').forEach(function (b) { b.disabled = true; });
        }, 0);
      });
    });
    // After a step the page says what happened; that message takes the
    // focus, so a screen reader reads it and the keyboard starts there.
    var msg = root.querySelector('[data-focus]');
    if (msg) msg.focus();
  }
  document.addEventListener('DOMContentLoaded', function () { init(document); });
  document.addEventListener('htmx:load', function (e) { init(e.detail.elt); });
  // A refused form swapped in place: its first invalid field takes the focus.
  document.addEventListener('htmx:afterSwap', function (e) {
    var el = e.detail.elt;
    if (!el || !el.querySelector) return;
    var bad = el.querySelector('[aria-invalid=true]') || el.querySelector('.form-error');
    if (bad) {
      if (!bad.hasAttribute('tabindex') && bad.classList.contains('form-error')) bad.setAttribute('tabindex', '-1');
      bad.focus();
    }
  });
})();
