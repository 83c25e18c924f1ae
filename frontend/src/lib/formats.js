// Times as the server writes them (leitstand/formats.py), for what the browser updates live:
// "03.12.2026, 14:05 MEZ" on German pages, "2026-12-03 14:05 CET" on English ones, in the zone
// the page names (the viewer's organisation's), else the browser's own.
const cache = new Map();

function parts(language, timeZone) {
  const key = `${language}|${timeZone || ""}`;
  if (!cache.has(key)) {
    const options = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23", timeZoneName: "short" };
    try {
      cache.set(key, new Intl.DateTimeFormat(language, { ...options, timeZone: timeZone || undefined }));
    } catch {
      cache.set(key, new Intl.DateTimeFormat(language, options)); // a zone this browser does not know
    }
  }
  return cache.get(key);
}

export function formatMoment(date, language, timeZone) {
  const german = (language || "").startsWith("de");
  const part = Object.fromEntries(parts(german ? "de" : "en-GB", timeZone).formatToParts(date)
    .map(({ type, value }) => [type, value]));
  const day = german ? `${part.day}.${part.month}.${part.year},` : `${part.year}-${part.month}-${part.day}`;
  return `${day} ${part.hour}:${part.minute} ${part.timeZoneName}`;
}
