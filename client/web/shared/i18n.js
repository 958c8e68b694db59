// Two languages, zh-CN and en: chosen from the browser, switchable, remembered per device.
export const LANGS = ["zh-CN", "en"];
const KEY = "interview-hub.lang";

export function initialLang() {
  const saved = localStorage.getItem(KEY);
  if (LANGS.includes(saved)) return saved;
  const wanted = navigator.languages?.length ? navigator.languages : [navigator.language || "en"];
  for (const tag of wanted) {
    if (tag.toLowerCase().startsWith("zh")) return "zh-CN";
    if (tag.toLowerCase().startsWith("en")) return "en";
  }
  return "en";
}

// dict: {key: {"en": "...", "zh-CN": "..."}}; "{name}" in a text is replaced from vars.
export function makeI18n(dict) {
  const i18n = {
    lang: initialLang(),
    listeners: [],
    t(key, vars = {}) {
      const entry = dict[key];
      const text = entry ? (entry[i18n.lang] ?? entry.en) : key;
      return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
    },
    // The server's {en, zh-CN} message map for a reason code, in the current language.
    message(map, fallbackKey) {
      if (map && typeof map === "object" && (map[i18n.lang] || map.en)) {
        return map[i18n.lang] || map.en;
      }
      return i18n.t(fallbackKey);
    },
    setLang(lang) {
      if (!LANGS.includes(lang)) return;
      i18n.lang = lang;
      localStorage.setItem(KEY, lang);
      i18n.apply(document);
      for (const listener of i18n.listeners) listener(lang);
    },
    onChange(listener) {
      i18n.listeners.push(listener);
    },
    // Fill every [data-i18n] (text), [data-i18n-label] (aria-label and title) and
    // [data-i18n-placeholder] element under root.
    apply(root) {
      document.documentElement.lang = i18n.lang;
      for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = i18n.t(el.dataset.i18n);
      for (const el of root.querySelectorAll("[data-i18n-label]")) {
        el.setAttribute("aria-label", i18n.t(el.dataset.i18nLabel));
        el.title = i18n.t(el.dataset.i18nLabel);
      }
      for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
        el.placeholder = i18n.t(el.dataset.i18nPlaceholder);
      }
    },
  };
  return i18n;
}

// A language switch: a <select> bound to i18n.
export function bindLangSelect(select, i18n) {
  select.value = i18n.lang;
  select.addEventListener("change", () => i18n.setLang(select.value));
  i18n.onChange((lang) => {
    select.value = lang;
  });
}

export function formatTime(ms, lang) {
  if (!ms) return "";
  return new Date(ms).toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
}
