// An external worker plugin (seed 004): CHECK_FILENAMES refuses objects whose file name has a
// forbidden extension. Plain JavaScript, no import from Coffre: the worker hands everything in
// through the handler I/O and reads the item status it returns.
//
// Parameters (from the workflow action): forbidden — list of extensions, e.g. [".exe", ".bat"].

const DEFAULT_FORBIDDEN = ['.exe', '.bat', '.cmd', '.com', '.scr', '.js', '.vbs'];

export default class CheckFilenames {
  /** A new instance per call: state here is never shared between items. */
  constructor() {
    this.seen = 0;
  }

  async execute(io) {
    const forbidden = (io.parameters.forbidden ?? DEFAULT_FORBIDDEN).map((e) => e.toLowerCase());
    const group = io.item.data;
    const bad = [];
    for (const object of group.objects ?? []) {
      if (object.kind !== 'binary' || !object.path) continue;
      this.seen++;
      // Both the file in the package and the name the manifest declares (FileInfo/Filename).
      const names = [object.path, object.filename].filter(Boolean).map((n) => n.toLowerCase());
      const hit = forbidden.find((ext) => names.some((n) => n.endsWith(ext)));
      if (hit) bad.push({ id: object.manifestId, path: object.path, ext: hit });
    }
    const status = bad.length ? 'KO' : 'OK';
    return {
      globalStatus: status,
      itemsStatus: [{ EXTENSION: { globalStatus: status, params: { count: this.seen } } }],
      // `reason` fills {detail} in the default catalogue; `path` is this plugin's own placeholder.
      params: { reason: bad.map((b) => `${b.path} (${b.ext})`).join(', '), path: bad[0]?.path ?? '' },
      detail: bad.length ? { forbidden: bad } : undefined,
    };
  }
}
