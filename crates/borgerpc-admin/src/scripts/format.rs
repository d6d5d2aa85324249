//! Reading and validating a script library directory in the os2borgerpc-scripts format.
//!
//! Owns the format's rules: where the front matter is, which fields it must have, how
//! `source` names the code file, and what makes code unrunnable on a PC. Pure file reading,
//! no database and no async, so the importer and the contributors' linter share one truth.
//!
//! Every problem carries the line in the file where it can be fixed, because the point of
//! the checks is a contributor seeing the mistake in their editor or CI annotation.
//!
//! Leniency follows the real libraries: fields we do not use (`summary`, `nav_exclude`,
//! `included_in_image`, `partners`, …) are ignored, `uid`/`security`/`hidden` may sit at
//! the top level or under `metadata:` (both occur upstream), and a missing `version` or a
//! quoted boolean is a warning, not an error, since published scripts have both.

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// One script of the library, as the portal stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptSpec {
    /// The `.md` file.
    pub file: PathBuf,
    pub title: String,
    pub version: i64,
    pub uid: Option<String>,
    /// The `parent` field: the category the portal files the script under.
    pub category: Option<String>,
    /// The Markdown after the front matter, trimmed.
    pub description: String,
    pub code: String,
    pub code_file: PathBuf,
    pub parameters: Vec<ParameterSpec>,
    pub compatibility: Vec<String>,
    pub security: bool,
    pub hidden: bool,
}

/// One input of a script, in the order the script receives it as `$1`, `$2`, ….
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterSpec {
    pub name: String,
    pub value_type: ValueType,
    pub default: Option<String>,
    pub mandatory: bool,
}

/// The input types the portal's job form knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    String,
    Int,
    Date,
    File,
    Boolean,
    Time,
    Password,
    TextField,
}

impl ValueType {
    pub const ALL: [ValueType; 8] = [
        ValueType::String,
        ValueType::Int,
        ValueType::Date,
        ValueType::File,
        ValueType::Boolean,
        ValueType::Time,
        ValueType::Password,
        ValueType::TextField,
    ];

    /// The portal's stored name (upper case, as the upstream admin site stores it).
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::String => "STRING",
            ValueType::Int => "INT",
            ValueType::Date => "DATE",
            ValueType::File => "FILE",
            ValueType::Boolean => "BOOLEAN",
            ValueType::Time => "TIME",
            ValueType::Password => "PASSWORD",
            ValueType::TextField => "TEXT_FIELD",
        }
    }

    /// Parses the front matter's spelling (`string`, `text_field`, …), ignoring case.
    pub fn parse(s: &str) -> Option<ValueType> {
        let s = s.trim();
        ValueType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The script cannot be imported or would not run.
    Error,
    /// Works, but is likely a mistake or breaks other tools.
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Something wrong with a file of the library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based; 0 when no line applies (the file as a whole).
    pub line: usize,
    pub message: String,
    pub severity: Severity,
}

impl Problem {
    pub fn error(file: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Problem {
        Problem {
            file: file.into(),
            line,
            message: message.into(),
            severity: Severity::Error,
        }
    }

    pub fn warning(file: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Problem {
        Problem {
            file: file.into(),
            line,
            message: message.into(),
            severity: Severity::Warning,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// gcc style, which editors and CI annotators turn into clickable locations. Without a line
/// the location is the bare path, as gcc itself prints it.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file.display())?;
        if self.line > 0 {
            write!(f, "{}:", self.line)?;
        }
        write!(f, " {}: {}", self.severity.as_str(), self.message)
    }
}

/// Reads every top-level `*.md` of a library, in file-name order.
///
/// A script appears in the returned list only if none of the problems for it is an error, so
/// an importer can take the list as it is. Pages that are not scripts (README, index pages,
/// other Markdown without front matter and without a matching `scripts/<name>.*`) are
/// skipped silently; a page that looks like a script but is broken is reported.
///
/// Across files: a `uid` used twice is an error on the later file (the portal updates
/// scripts by uid, so the second would silently replace the first); the same title and
/// version twice is a warning on the later file.
pub fn read_dir(dir: &Path) -> (Vec<ScriptSpec>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut specs = Vec::new();

    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(Problem::error(
                dir,
                0,
                format!("cannot read the script directory: {e}"),
            ));
            return (specs, problems);
        }
    };
    let mut md_files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("md"))
                && path.is_file()
        })
        .collect();
    md_files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));

    let mut uids: HashMap<String, (PathBuf, usize)> = HashMap::new();
    let mut titles: HashMap<(String, i64), PathBuf> = HashMap::new();

    let root = dir.canonicalize().ok();
    for md_path in md_files {
        // Like code files, a page must not pull in text from outside the library.
        let inside = match (md_path.canonicalize(), &root) {
            (Ok(file), Some(root)) => file.starts_with(root),
            _ => false,
        };
        if !inside {
            problems.push(Problem::error(
                &md_path,
                0,
                "is a link to outside the script directory",
            ));
            continue;
        }
        let bytes = match std::fs::read(&md_path) {
            Ok(bytes) => bytes,
            Err(e) => {
                problems.push(Problem::error(&md_path, 0, format!("cannot read: {e}")));
                continue;
            }
        };
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            Err(e) => {
                problems.push(not_utf8(&md_path, &bytes, &e));
                continue;
            }
        };
        if !looks_like_script(&md_path, text, dir) {
            continue;
        }

        let (checked, mut found) = check(&md_path, text, dir);
        problems.append(&mut found);
        let Some(checked) = checked else { continue };
        let spec = checked.spec;

        if let Some(uid) = &spec.uid {
            if let Some((first, first_line)) = uids.get(uid) {
                problems.push(Problem::error(
                    &spec.file,
                    checked.uid_line,
                    format!(
                        "duplicate uid `{uid}`: {}:{first_line} already uses it",
                        first.display()
                    ),
                ));
                continue;
            }
            uids.insert(uid.clone(), (spec.file.clone(), checked.uid_line));
        }
        let key = (spec.title.clone(), spec.version);
        if let Some(first) = titles.get(&key) {
            problems.push(Problem::warning(
                &spec.file,
                checked.title_line,
                format!(
                    "title \"{}\" version {} is also used by {}",
                    spec.title,
                    spec.version,
                    first.display()
                ),
            ));
        } else {
            titles.insert(key, spec.file.clone());
        }
        specs.push(spec);
    }
    (specs, problems)
}

/// Parses one script; the code file is read relative to `dir`.
///
/// `Ok` when there is no error (warnings are dropped: use [`check_script`] to see them);
/// `Err` with every problem found, warnings included, otherwise.
pub fn parse_script(md_path: &Path, md_text: &str, dir: &Path) -> Result<ScriptSpec, Vec<Problem>> {
    match check_script(md_path, md_text, dir) {
        (Some(spec), _) => Ok(spec),
        (None, problems) => Err(problems),
    }
}

/// Like [`parse_script`], but keeps the warnings of a script that parsed: the spec is `Some`
/// exactly when no problem is an error.
pub fn check_script(
    md_path: &Path,
    md_text: &str,
    dir: &Path,
) -> (Option<ScriptSpec>, Vec<Problem>) {
    let (checked, problems) = check(md_path, md_text, dir);
    (checked.map(|c| c.spec), problems)
}

/// A parsed script plus the lines the cross-file checks point at.
struct Checked {
    spec: ScriptSpec,
    title_line: usize,
    uid_line: usize,
}

/// The line of the opening `---`: where a missing field is reported, since there is no
/// line of its own to point at.
const FRONT_MATTER_LINE: usize = 1;

/// Front matter larger than this is not a script header; refusing it keeps a hostile or
/// corrupt file from making the YAML parser build an arbitrarily deep tree.
const MAX_FRONT_MATTER: usize = 256 * 1024;

/// The YAML loader recurses once per nesting level, so a deep enough tree overflows the stack
/// (an abort, not a catchable panic). Block nesting needs indentation or `- `/`? ` prefixes
/// on some line, about one level per column, and the parser already caps flow (`[`/`{`)
/// nesting at 255; bounding the prefix keeps the whole tree well inside a 2 MiB thread stack.
/// Real script headers are indented a few columns.
const MAX_INDENT: usize = 200;

/// The `.md` line of the first line whose block prefix is wider than [`MAX_INDENT`].
fn too_deep(yaml: &str) -> Option<usize> {
    yaml.lines()
        .position(|line| {
            line.chars()
                .take_while(|c| matches!(c, ' ' | '\t' | '-' | '?' | ':'))
                .count()
                > MAX_INDENT
        })
        .map(|index| index + 1 + YAML_LINE_OFFSET)
}

fn check(md_path: &Path, md_text: &str, dir: &Path) -> (Option<Checked>, Vec<Problem>) {
    let mut ctx = Ctx {
        file: md_path,
        yaml: "",
        problems: Vec::new(),
    };
    let (yaml, body) = match split_front_matter(md_text) {
        FrontMatter::Absent => {
            ctx.error(
                FRONT_MATTER_LINE,
                "no front matter: a script page starts with a `---` line, its YAML fields, \
                 and another `---` line",
            );
            return (None, ctx.problems);
        }
        FrontMatter::Unterminated => {
            ctx.error(
                FRONT_MATTER_LINE,
                "front matter opened here is never closed by a `---` line",
            );
            return (None, ctx.problems);
        }
        FrontMatter::Present { yaml, body } => (yaml, body),
    };
    if yaml.len() > MAX_FRONT_MATTER {
        ctx.error(
            FRONT_MATTER_LINE,
            format!("front matter is larger than {MAX_FRONT_MATTER} bytes"),
        );
        return (None, ctx.problems);
    }
    if let Some(line) = too_deep(yaml) {
        ctx.error(
            line,
            format!("front matter is indented more than {MAX_INDENT} columns"),
        );
        return (None, ctx.problems);
    }
    ctx.yaml = yaml;

    let docs = match MarkedYaml::load_from_str(yaml) {
        Ok(docs) => docs,
        Err(e) => {
            ctx.error(
                e.marker().line() + YAML_LINE_OFFSET,
                format!("invalid YAML in front matter: {}", e.info()),
            );
            return (None, ctx.problems);
        }
    };
    let empty = MarkedYaml::from(YamlData::Mapping(Default::default()));
    let root = match docs.first() {
        Some(doc) => resolve(doc),
        None => &empty,
    };
    if !matches!(root.data, YamlData::Mapping(_)) {
        ctx.error(
            ctx.line(root),
            "front matter must be a set of `field: value` lines",
        );
        return (None, ctx.problems);
    }

    let (title, title_line) = ctx.title(field(root, "title"));
    let version = ctx.version(field(root, "version"));
    let category = ctx.optional_text(field(root, "parent"), "parent");
    let parameters = ctx.parameters(field(root, "parameters"));
    let compatibility = ctx.compatibility(field(root, "compatibility"));

    let metadata = field(root, "metadata");
    if let Some(meta) = metadata
        && !matches!(
            meta.data,
            YamlData::Mapping(_) | YamlData::Value(Scalar::Null)
        )
    {
        ctx.error(
            ctx.line(meta),
            "`metadata` must be a set of `field: value` lines",
        );
    }
    // Upstream moved these from `metadata:` to the top level; accept both, top level first.
    let meta_field = |key: &str| field(root, key).or_else(|| metadata.and_then(|m| field(m, key)));
    let uid_node = meta_field("uid");
    let uid = ctx.optional_text(uid_node, "uid");
    if let (Some(node), None) = (uid_node, &uid)
        && matches!(value(node), Value::Null | Value::Str(_))
    {
        ctx.error(ctx.line(node), "`uid` is empty");
    }
    let uid_line = uid_node.map_or(FRONT_MATTER_LINE, |n| ctx.line(n));
    let security = ctx.boolean(meta_field("security"), "security");
    let hidden = ctx.boolean(meta_field("hidden"), "hidden");

    let code = ctx.code(field(root, "source"), dir);

    if ctx.problems.iter().any(Problem::is_error) {
        return (None, ctx.problems);
    }
    let (Some(title), Some(version), Some(parameters), Some((code_file, code))) =
        (title, version, parameters, code)
    else {
        // Every `None` above comes with an error, so this is not reached; stay total anyway.
        return (None, ctx.problems);
    };
    let spec = ScriptSpec {
        file: md_path.to_path_buf(),
        title,
        version,
        uid,
        category,
        description: body.trim().to_string(),
        code,
        code_file,
        parameters,
        compatibility,
        security,
        hidden,
    };
    (
        Some(Checked {
            spec,
            title_line,
            uid_line,
        }),
        ctx.problems,
    )
}

/// Whether `read_dir` should treat a Markdown file as a script page.
///
/// README and index pages are documentation for the repository (the real core library has
/// an `index.md` with front matter but no `source`). Other Markdown without front matter is
/// taken as documentation too, unless a `scripts/<name>.*` exists next to it: then it is a
/// script page whose header was lost, which must not be skipped silently.
fn looks_like_script(md_path: &Path, text: &str, dir: &Path) -> bool {
    let stem = md_path
        .file_stem()
        .map(|s| s.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let is_doc_page = stem == "readme" || stem == "index";
    match split_front_matter(text) {
        FrontMatter::Absent => {
            !is_doc_page
                && ["sh", "py"]
                    .iter()
                    .any(|ext| dir.join("scripts").join(format!("{stem}.{ext}")).is_file())
        }
        FrontMatter::Unterminated => !is_doc_page,
        FrontMatter::Present { yaml, .. } => {
            !is_doc_page
                || yaml
                    .lines()
                    .any(|line| line.trim_start().starts_with("source:"))
        }
    }
}

enum FrontMatter<'a> {
    Absent,
    Unterminated,
    Present { yaml: &'a str, body: &'a str },
}

/// The YAML starts on the line after the opening `---`, so a line the YAML parser reports
/// (1-based, relative to the YAML) is this many lines further down the `.md` file.
const YAML_LINE_OFFSET: usize = 1;

fn split_front_matter(text: &str) -> FrontMatter<'_> {
    // A byte-order mark is invisible in editors; do not let it hide the front matter.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let Some(first) = lines.next() else {
        return FrontMatter::Absent;
    };
    if first.trim_end() != "---" {
        return FrontMatter::Absent;
    }
    let start = first.len();
    let mut offset = start;
    for line in lines {
        if line.trim_end() == "---" {
            return FrontMatter::Present {
                yaml: &text[start..offset],
                body: &text[offset + line.len()..],
            };
        }
        offset += line.len();
    }
    FrontMatter::Unterminated
}

/// A problem about bytes that are not UTF-8, on the line of the first bad byte.
fn not_utf8(file: &Path, bytes: &[u8], e: &std::str::Utf8Error) -> Problem {
    let good = &bytes[..e.valid_up_to()];
    let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
    Problem::error(
        file,
        line,
        format!(
            "{} is not valid UTF-8 (bad byte at offset {}); save it as UTF-8",
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| file.display().to_string()),
            e.valid_up_to()
        ),
    )
}

/// The node itself, looking through a tag (`!!str x`).
fn resolve<'n, 'i>(mut node: &'n MarkedYaml<'i>) -> &'n MarkedYaml<'i> {
    while let YamlData::Tagged(_, inner) = &node.data {
        node = inner;
    }
    node
}

/// The value of `key` in a mapping node.
fn field<'n, 'i>(node: &'n MarkedYaml<'i>, key: &str) -> Option<&'n MarkedYaml<'i>> {
    let YamlData::Mapping(map) = &resolve(node).data else {
        return None;
    };
    map.iter()
        .find(|(k, _)| matches!(&resolve(k).data, YamlData::Value(Scalar::String(s)) if s == key))
        .map(|(_, v)| resolve(v))
}

/// A scalar as the checks need it.
enum Value<'n> {
    Null,
    Bool(bool),
    Int(i64),
    Float,
    Str(&'n str),
    List,
    Map,
    Other,
}

fn value<'n>(node: &'n MarkedYaml<'_>) -> Value<'n> {
    match &resolve(node).data {
        YamlData::Value(Scalar::Null) => Value::Null,
        YamlData::Value(Scalar::Boolean(b)) => Value::Bool(*b),
        YamlData::Value(Scalar::Integer(i)) => Value::Int(*i),
        YamlData::Value(Scalar::FloatingPoint(_)) => Value::Float,
        YamlData::Value(Scalar::String(s)) => Value::Str(s),
        YamlData::Sequence(_) => Value::List,
        YamlData::Mapping(_) => Value::Map,
        _ => Value::Other,
    }
}

/// What to call a value in a message.
fn describe(node: &MarkedYaml<'_>, ctx: &Ctx<'_>) -> String {
    match value(node) {
        Value::Null => "nothing".to_string(),
        Value::Str(s) => format!("\"{s}\""),
        Value::List => "a list".to_string(),
        Value::Map => "a set of fields".to_string(),
        Value::Other => "an unsupported YAML value (alias?)".to_string(),
        Value::Bool(_) | Value::Int(_) | Value::Float => ctx.raw(node),
    }
}

/// Collects the problems of one `.md` file.
struct Ctx<'a> {
    file: &'a Path,
    yaml: &'a str,
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    fn error(&mut self, line: usize, message: impl Into<String>) {
        self.problems.push(Problem::error(self.file, line, message));
    }

    fn warning(&mut self, line: usize, message: impl Into<String>) {
        self.problems
            .push(Problem::warning(self.file, line, message));
    }

    /// The `.md` line a node starts on.
    fn line(&self, node: &MarkedYaml<'_>) -> usize {
        node.span.start.line() + YAML_LINE_OFFSET
    }

    /// The node's text as written. YAML numbers lose their spelling when parsed (`22.10`
    /// becomes 22.1), which matters for version-like strings.
    fn raw(&self, node: &MarkedYaml<'_>) -> String {
        let start = node.span.start.index();
        let len = node.span.end.index().saturating_sub(start);
        let raw: String = self.yaml.chars().skip(start).take(len).collect();
        raw.trim().to_string()
    }

    /// Text of a scalar field: numbers and booleans as written. `None` for null or a
    /// collection (the latter reported as an error).
    fn scalar_text(&mut self, node: &MarkedYaml<'_>, what: &str) -> Option<String> {
        match value(node) {
            Value::Null => None,
            Value::Str(s) => Some(s.to_string()),
            Value::Bool(_) | Value::Int(_) | Value::Float => Some(self.raw(node)),
            Value::List | Value::Map | Value::Other => {
                let found = describe(node, self);
                self.error(
                    self.line(node),
                    format!("{what} must be a single value, found {found}"),
                );
                None
            }
        }
    }

    fn optional_text(&mut self, node: Option<&MarkedYaml<'_>>, key: &str) -> Option<String> {
        let text = self.scalar_text(node?, &format!("`{key}`"))?;
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_string())
    }

    fn title(&mut self, node: Option<&MarkedYaml<'_>>) -> (Option<String>, usize) {
        let Some(node) = node else {
            self.error(FRONT_MATTER_LINE, "missing `title`");
            return (None, FRONT_MATTER_LINE);
        };
        let line = self.line(node);
        let title = self
            .scalar_text(node, "`title`")
            .map(|t| t.trim().to_string());
        match title {
            Some(t) if !t.is_empty() => (Some(t), line),
            _ => {
                if !matches!(value(node), Value::List | Value::Map | Value::Other) {
                    self.error(line, "`title` is empty");
                }
                (None, line)
            }
        }
    }

    fn version(&mut self, node: Option<&MarkedYaml<'_>>) -> Option<i64> {
        let Some(node) = node else {
            // Many published scripts have no version; the portal treats them as version 1.
            self.warning(FRONT_MATTER_LINE, "missing `version`; assuming 1");
            return Some(1);
        };
        let line = self.line(node);
        match value(node) {
            Value::Int(v) => Some(v),
            Value::Str(s) if s.trim().parse::<i64>().is_ok() => {
                self.warning(
                    line,
                    format!("`version` is quoted; write `version: {}`", s.trim()),
                );
                s.trim().parse().ok()
            }
            _ => {
                let found = describe(node, self);
                self.error(
                    line,
                    format!("`version` must be a whole number, found {found}"),
                );
                None
            }
        }
    }

    /// A flag; absent or empty means false.
    fn boolean(&mut self, node: Option<&MarkedYaml<'_>>, key: &str) -> bool {
        let Some(node) = node else { return false };
        let line = self.line(node);
        match value(node) {
            Value::Bool(b) => b,
            Value::Null => false,
            // Upstream has `hidden: "true"`; Python reads any non-empty string as true,
            // so `"false"` would mean true there. Accept the intent, but flag it.
            Value::Str(s) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {
                let b = s.eq_ignore_ascii_case("true");
                self.warning(
                    line,
                    format!(
                        "`{key}` is quoted; write `{key}: {b}` (other tools read \"false\" as true)"
                    ),
                );
                b
            }
            _ => {
                let found = describe(node, self);
                self.error(
                    line,
                    format!("`{key}` must be true or false, found {found}"),
                );
                false
            }
        }
    }

    fn parameters(&mut self, node: Option<&MarkedYaml<'_>>) -> Option<Vec<ParameterSpec>> {
        let Some(node) = node else {
            return Some(Vec::new());
        };
        let items = match &node.data {
            YamlData::Value(Scalar::Null) => return Some(Vec::new()),
            YamlData::Sequence(items) => items,
            _ => {
                let found = describe(node, self);
                self.error(
                    self.line(node),
                    format!("`parameters` must be a list (`- name: …` items), found {found}"),
                );
                return None;
            }
        };
        let mut parameters = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut ok = true;
        for item in items {
            let item = resolve(item);
            match self.parameter(item, &mut seen) {
                Some(p) => parameters.push(p),
                None => ok = false,
            }
        }
        ok.then_some(parameters)
    }

    fn parameter(
        &mut self,
        item: &MarkedYaml<'_>,
        seen: &mut HashMap<String, usize>,
    ) -> Option<ParameterSpec> {
        let item_line = self.line(item);
        if !matches!(item.data, YamlData::Mapping(_)) {
            let found = describe(item, self);
            self.error(
                item_line,
                format!(
                    "a parameter must have `name`, `type`, `default` and `mandatory`, found {found}"
                ),
            );
            return None;
        }
        let name_node = field(item, "name");
        let name = name_node
            .and_then(|n| self.scalar_text(n, "parameter `name`"))
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
        let name = match (name, name_node) {
            (Some(name), Some(node)) => {
                let line = self.line(node);
                if let Some(first) = seen.get(&name) {
                    self.error(
                        line,
                        format!("duplicate parameter name \"{name}\" (first on line {first})"),
                    );
                } else {
                    seen.insert(name.clone(), line);
                }
                Some(name)
            }
            _ => {
                self.error(item_line, "parameter without a `name`");
                None
            }
        };
        let label = name.as_deref().unwrap_or("without a name").to_string();

        let value_type = match field(item, "type") {
            None => {
                self.error(item_line, format!("parameter \"{label}\" has no `type`"));
                None
            }
            Some(node) => {
                let text = self.scalar_text(node, "parameter `type`");
                let parsed = text.as_deref().and_then(ValueType::parse);
                if parsed.is_none()
                    && !matches!(value(node), Value::List | Value::Map | Value::Other)
                {
                    let expected: Vec<String> = ValueType::ALL
                        .iter()
                        .map(|t| t.as_str().to_ascii_lowercase())
                        .collect();
                    self.error(
                        self.line(node),
                        format!(
                            "unknown parameter type \"{}\" for \"{label}\"; expected one of: {}",
                            text.unwrap_or_default(),
                            expected.join(", ")
                        ),
                    );
                }
                parsed
            }
        };
        let default =
            field(item, "default").and_then(|n| self.scalar_text(n, "parameter `default`"));
        let mandatory = self.boolean(field(item, "mandatory"), "mandatory");
        Some(ParameterSpec {
            name: name?,
            value_type: value_type?,
            default,
            mandatory,
        })
    }

    fn compatibility(&mut self, node: Option<&MarkedYaml<'_>>) -> Vec<String> {
        let Some(node) = node else { return Vec::new() };
        let items = match &node.data {
            YamlData::Value(Scalar::Null) => return Vec::new(),
            YamlData::Sequence(items) => items,
            _ => {
                let found = describe(node, self);
                self.error(
                    self.line(node),
                    format!("`compatibility` must be a list (e.g. `- \"22.04\"`), found {found}"),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for item in items {
            let item = resolve(item);
            if matches!(value(item), Value::Int(_) | Value::Float) {
                let raw = self.raw(item);
                self.warning(
                    self.line(item),
                    format!("compatibility entry {raw} is a YAML number; quote it (\"{raw}\") so other tools do not read 22.10 as 22.1"),
                );
            }
            if let Some(text) = self.scalar_text(item, "a `compatibility` entry") {
                out.push(text.trim().to_string());
            }
        }
        out
    }

    /// Finds, reads and checks the code file; `(path, code)` when it can run.
    fn code(&mut self, node: Option<&MarkedYaml<'_>>, dir: &Path) -> Option<(PathBuf, String)> {
        let Some(node) = node else {
            self.error(
                FRONT_MATTER_LINE,
                "missing `source` (the code file, e.g. `source: scripts/NAME.sh`)",
            );
            return None;
        };
        let line = self.line(node);
        let Some(source) = self.optional_text(Some(node), "source") else {
            if matches!(value(node), Value::Null | Value::Str(_)) {
                self.error(line, "`source` is empty");
            }
            return None;
        };
        let relative = match resolve_source(&source, dir) {
            Ok((relative, note)) => {
                if let Some(note) = note {
                    self.warning(line, note);
                }
                relative
            }
            Err(message) => {
                self.error(line, message);
                return None;
            }
        };
        let code_file = dir.join(&relative);
        let shown = relative.display().to_string();

        let bytes = match std::fs::read(&code_file) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.error(line, format!("cannot read code file `{shown}`: {e}"));
                return None;
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            self.error(line, format!("code file `{shown}` is empty"));
            return None;
        }
        let code = match String::from_utf8(bytes) {
            Ok(code) => code,
            Err(e) => {
                let bytes = e.as_bytes();
                self.problems
                    .push(not_utf8(&code_file, bytes, &e.utf8_error()));
                return None;
            }
        };
        // The client executes the file directly, so the kernel reads the interpreter from
        // the first two bytes: a missing `#!`, a BOM or a CR there all make exec fail.
        let first_line = code.split('\n').next().unwrap_or_default();
        if code.starts_with('\u{feff}') {
            self.problems.push(Problem::error(
                &code_file,
                1,
                "code starts with a byte-order mark; `#!` must be the first two bytes",
            ));
        } else if !code.starts_with("#!") {
            self.problems.push(Problem::error(
                &code_file,
                1,
                "code has no `#!` line; the PC executes the file directly, so the first line \
                 must name the interpreter (e.g. `#!/usr/bin/env bash`)",
            ));
        } else if first_line.ends_with('\r') {
            self.problems.push(Problem::error(
                &code_file,
                1,
                "the `#!` line ends in a carriage return (CRLF); exec fails with \
                 \"bad interpreter\": save the file with LF line endings",
            ));
        } else if let Some(at) = code.find("\r\n") {
            let crlf_line = code[..at].matches('\n').count() + 1;
            self.problems.push(Problem::warning(
                &code_file,
                crlf_line,
                "code has Windows (CRLF) line endings; shells read the CR as part of the \
                 command: save the file with LF line endings",
            ));
        }
        if self
            .problems
            .iter()
            .any(|p| p.file == code_file && p.is_error())
        {
            return None;
        }
        Some((code_file, code))
    }
}

/// Where `source` points, relative to the library directory, plus a note when we had to
/// guess.
///
/// Paths are taken relative to the library (as upstream's importer does). Published scripts
/// also have URLs and old site paths (`/assets/os2borgerpc-scripts/…/name.sh`); for those the
/// file name is looked up in `scripts/`, the layout the libraries use today. Nothing outside
/// the library directory is read: an importer must not be tricked into storing, say,
/// `/etc/shadow` as a script.
fn resolve_source(source: &str, dir: &Path) -> Result<(PathBuf, Option<String>), String> {
    let source = source.trim();
    let is_url = source.contains("://");
    let path_part = if is_url {
        source.split(['?', '#']).next().unwrap_or_default()
    } else {
        source
    };
    let file_name = path_part
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .ok_or_else(|| format!("`source` \"{source}\" does not end in a file name"))?;
    let fallback = Path::new("scripts").join(file_name);

    let (relative, note) = if is_url {
        (fallback, None)
    } else {
        let path = Path::new(path_part);
        if path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(format!(
                "`source` \"{source}\" leaves the script directory; use a path inside it"
            ));
        }
        let is_absolute = path.has_root() || path.is_absolute();
        if !is_absolute && dir.join(path).is_file() {
            (path.to_path_buf(), None)
        } else if fallback.as_path() != path && dir.join(&fallback).is_file() {
            let note = format!(
                "`source` \"{source}\" is not a file in this directory; using `{}`",
                fallback.display()
            );
            (fallback, Some(note))
        } else if is_absolute {
            return Err(format!(
                "code file not found: `source` \"{source}\" is absolute and `{}` does not exist",
                fallback.display()
            ));
        } else {
            (path.to_path_buf(), None)
        }
    };
    let full = dir.join(&relative);
    if !full.is_file() {
        return Err(format!("code file `{}` not found", relative.display()));
    }
    // A symlink could still lead out of the directory.
    match (full.canonicalize(), dir.canonicalize()) {
        (Ok(file), Ok(root)) if file.starts_with(&root) => Ok((relative, note)),
        (Ok(_), Ok(_)) => Err(format!(
            "code file `{}` is a link to outside the script directory",
            relative.display()
        )),
        (Err(e), _) | (_, Err(e)) => Err(format!(
            "cannot resolve code file `{}`: {e}",
            relative.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures(which: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/scripts")
            .join(which)
    }

    fn spec<'a>(specs: &'a [ScriptSpec], name: &str) -> &'a ScriptSpec {
        specs
            .iter()
            .find(|s| s.file.file_name().is_some_and(|n| n == name))
            .unwrap_or_else(|| panic!("{name} not parsed"))
    }

    fn param(name: &str, t: ValueType, default: Option<&str>, mandatory: bool) -> ParameterSpec {
        ParameterSpec {
            name: name.to_string(),
            value_type: t,
            default: default.map(str::to_string),
            mandatory,
        }
    }

    #[test]
    fn good_library_has_no_problems() {
        let (specs, problems) = read_dir(&fixtures("good"));
        assert!(problems.is_empty(), "{problems:#?}");
        let names: Vec<_> = specs
            .iter()
            .filter_map(|s| s.file.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        // README.md and index.md are documentation pages and are skipped.
        assert_eq!(
            names,
            [
                "all_parameter_types.md",
                "kiosk_wake_plan.md",
                "list_usb_devices.md",
                "usb_insert_event.md"
            ]
        );
    }

    #[test]
    fn good_all_parameter_types() {
        let dir = fixtures("good");
        let (specs, _) = read_dir(&dir);
        let s = spec(&specs, "all_parameter_types.md");
        assert_eq!(s.title, "Eksempel: alle parametertyper");
        assert_eq!(s.version, 3);
        assert_eq!(s.uid, None);
        assert_eq!(s.category.as_deref(), Some("System"));
        assert_eq!(s.compatibility, ["22.04", "BorgerPC", "Kiosk"]);
        assert!(!s.security && !s.hidden);
        assert_eq!(s.code_file, dir.join("scripts/all_parameter_types.sh"));
        assert!(s.code.starts_with("#!/usr/bin/env bash\n"));
        assert!(s.description.starts_with("## Beskrivelse"));
        assert!(s.description.ends_with("kommaer."));
        use ValueType as T;
        assert_eq!(
            s.parameters,
            [
                param("Besked", T::String, Some("Hej verden"), true),
                param("Antal minutter", T::Int, Some("15"), true),
                param("Startdato", T::Date, None, false),
                param("Baggrundsbillede", T::File, None, false),
                param("Aktiver?", T::Boolean, Some("true"), false),
                param("Tidspunkt", T::Time, Some("07:30"), false),
                param("Kodeord", T::Password, None, true),
                param("Placering", T::TextField, Some("top,bottom,left"), false),
            ]
        );
    }

    #[test]
    fn good_uid_and_hidden() {
        let (specs, _) = read_dir(&fixtures("good"));
        let s = spec(&specs, "kiosk_wake_plan.md");
        assert_eq!(s.title, "Tænd/sluk: Anvend tidsplan");
        assert_eq!(s.uid.as_deref(), Some("kiosk_wake_plan_apply"));
        assert!(s.hidden);
        assert!(!s.security);
        assert_eq!(s.version, 2);
        assert_eq!(s.category.as_deref(), Some("System"));
        assert_eq!(s.compatibility, ["22.04", "BorgerPC"]);
        assert_eq!(
            s.parameters,
            [param("Tidsplan", ValueType::String, None, true)]
        );
    }

    #[test]
    fn good_python_without_parameters() {
        let dir = fixtures("good");
        let (specs, _) = read_dir(&dir);
        let s = spec(&specs, "list_usb_devices.md");
        assert_eq!(s.code_file, dir.join("scripts/list_usb_devices.py"));
        assert!(s.code.starts_with("#!/usr/bin/env python3\n"));
        assert!(s.parameters.is_empty());
        assert!(s.compatibility.is_empty());
        assert_eq!(s.category.as_deref(), Some("Programmer"));
        assert_eq!(s.version, 1);
    }

    #[test]
    fn good_security_script_with_metadata_block() {
        let (specs, _) = read_dir(&fixtures("good"));
        let s = spec(&specs, "usb_insert_event.md");
        assert!(s.security);
        assert!(!s.hidden);
        assert_eq!(s.uid.as_deref(), Some("usb_insert_event"));
        assert_eq!(s.category.as_deref(), Some("Sikkerhed"));
        assert_eq!(s.title, "Sikkerhed: USB-enhed indsat");
    }

    /// The problems `read_dir` reports for one file of the `bad` library.
    fn bad(name: &str) -> Vec<Problem> {
        let dir = fixtures("bad");
        let (specs, problems) = read_dir(&dir);
        for s in &specs {
            assert!(
                s.file.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.starts_with("missing_version")
                        || n.starts_with("duplicate_uid_a")
                        || n.starts_with("duplicate_title_version")
                        || n.starts_with("crlf_code")
                        || n.starts_with("quoted_boolean")
                }),
                "{} should not parse",
                s.file.display()
            );
        }
        let stem = name.trim_end_matches(".md");
        problems
            .into_iter()
            .filter(|p| {
                p.file
                    .file_stem()
                    .is_some_and(|n| n.to_string_lossy() == stem)
            })
            .collect()
    }

    #[track_caller]
    fn assert_one(name: &str, severity: Severity, file: &str, line: usize, fragment: &str) {
        let problems = bad(name);
        assert_eq!(problems.len(), 1, "{name}: {problems:#?}");
        let p = &problems[0];
        assert_eq!(p.severity, severity, "{p}");
        assert_eq!(p.file, fixtures("bad").join(file), "{p}");
        assert_eq!(p.line, line, "{p}");
        assert!(p.message.contains(fragment), "{p} lacks {fragment:?}");
    }

    #[test]
    fn bad_no_front_matter() {
        assert_one(
            "no_front_matter.md",
            Severity::Error,
            "no_front_matter.md",
            1,
            "no front matter",
        );
    }

    #[test]
    fn bad_unterminated_front_matter() {
        assert_one(
            "unterminated_front_matter.md",
            Severity::Error,
            "unterminated_front_matter.md",
            1,
            "never closed",
        );
    }

    #[test]
    fn bad_invalid_yaml() {
        assert_one(
            "invalid_yaml.md",
            Severity::Error,
            "invalid_yaml.md",
            5,
            "invalid YAML",
        );
    }

    #[test]
    fn bad_missing_title() {
        assert_one(
            "missing_title.md",
            Severity::Error,
            "missing_title.md",
            1,
            "missing `title`",
        );
    }

    #[test]
    fn bad_empty_title() {
        assert_one(
            "empty_title.md",
            Severity::Error,
            "empty_title.md",
            2,
            "`title` is empty",
        );
    }

    #[test]
    fn bad_missing_version_is_a_warning() {
        assert_one(
            "missing_version.md",
            Severity::Warning,
            "missing_version.md",
            1,
            "missing `version`",
        );
    }

    #[test]
    fn bad_version_not_an_integer() {
        assert_one(
            "version_not_integer.md",
            Severity::Error,
            "version_not_integer.md",
            3,
            "`version` must be a whole number, found \"to\"",
        );
    }

    #[test]
    fn bad_unknown_parameter_type() {
        assert_one(
            "unknown_parameter_type.md",
            Severity::Error,
            "unknown_parameter_type.md",
            12,
            "unknown parameter type \"dropdown\"",
        );
    }

    #[test]
    fn bad_parameter_without_name() {
        assert_one(
            "parameter_without_name.md",
            Severity::Error,
            "parameter_without_name.md",
            10,
            "parameter without a `name`",
        );
    }

    #[test]
    fn bad_duplicate_parameter_names() {
        assert_one(
            "duplicate_parameter_names.md",
            Severity::Error,
            "duplicate_parameter_names.md",
            11,
            "duplicate parameter name \"Adresse\" (first on line 7)",
        );
    }

    #[test]
    fn bad_mandatory_not_boolean() {
        assert_one(
            "mandatory_not_boolean.md",
            Severity::Error,
            "mandatory_not_boolean.md",
            9,
            "`mandatory` must be true or false, found \"ja\"",
        );
    }

    #[test]
    fn bad_security_not_boolean() {
        assert_one(
            "security_not_boolean.md",
            Severity::Error,
            "security_not_boolean.md",
            6,
            "`security` must be true or false, found 1",
        );
    }

    #[test]
    fn bad_hidden_not_boolean() {
        assert_one(
            "hidden_not_boolean.md",
            Severity::Error,
            "hidden_not_boolean.md",
            7,
            "`hidden` must be true or false, found \"maybe\"",
        );
    }

    #[test]
    fn bad_quoted_boolean_is_a_warning() {
        assert_one(
            "quoted_boolean.md",
            Severity::Warning,
            "quoted_boolean.md",
            6,
            "`hidden` is quoted",
        );
    }

    #[test]
    fn bad_missing_code_file() {
        assert_one(
            "missing_code_file.md",
            Severity::Error,
            "missing_code_file.md",
            5,
            "code file `scripts/does_not_exist.sh` not found",
        );
    }

    #[test]
    fn bad_missing_source() {
        assert_one(
            "missing_source.md",
            Severity::Error,
            "missing_source.md",
            1,
            "missing `source`",
        );
    }

    #[test]
    fn bad_source_leaves_directory() {
        assert_one(
            "source_outside.md",
            Severity::Error,
            "source_outside.md",
            4,
            "leaves the script directory",
        );
    }

    #[test]
    fn bad_empty_code_file() {
        assert_one(
            "empty_code_file.md",
            Severity::Error,
            "empty_code_file.md",
            4,
            "code file `scripts/empty_code_file.sh` is empty",
        );
    }

    #[test]
    fn bad_no_shebang() {
        assert_one(
            "no_shebang.md",
            Severity::Error,
            "scripts/no_shebang.sh",
            1,
            "no `#!` line",
        );
    }

    #[test]
    fn bad_crlf_code_is_a_warning() {
        assert_one(
            "crlf_code.md",
            Severity::Warning,
            "scripts/crlf_code.sh",
            3,
            "CRLF",
        );
    }

    #[test]
    fn bad_duplicate_uid_is_reported_on_the_second_file() {
        assert!(bad("duplicate_uid_a.md").is_empty());
        assert_one(
            "duplicate_uid_b.md",
            Severity::Error,
            "duplicate_uid_b.md",
            5,
            "duplicate uid `printer_setup`",
        );
        let (specs, _) = read_dir(&fixtures("bad"));
        assert!(specs.iter().any(|s| s.file.ends_with("duplicate_uid_a.md")));
        assert!(!specs.iter().any(|s| s.file.ends_with("duplicate_uid_b.md")));
    }

    #[test]
    fn bad_duplicate_title_and_version_is_a_warning() {
        assert!(bad("duplicate_title_version_a.md").is_empty());
        assert_one(
            "duplicate_title_version_b.md",
            Severity::Warning,
            "duplicate_title_version_b.md",
            2,
            "title \"Printer: Fjern alle\" version 4 is also used by",
        );
    }

    #[test]
    fn bad_markdown_not_utf8() {
        assert_one(
            "not_utf8.md",
            Severity::Error,
            "not_utf8.md",
            2,
            "not_utf8.md is not valid UTF-8",
        );
    }

    #[test]
    fn bad_code_not_utf8() {
        assert_one(
            "not_utf8_code.md",
            Severity::Error,
            "scripts/not_utf8_code.sh",
            3,
            "not_utf8_code.sh is not valid UTF-8",
        );
    }

    #[test]
    fn every_bad_fixture_is_covered() {
        let dir = fixtures("bad");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("bad fixtures")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".md"))
            .collect();
        names.sort();
        let (_, problems) = read_dir(&dir);
        for name in names {
            let stem = name.trim_end_matches(".md");
            let has = problems.iter().any(|p| {
                p.file
                    .file_stem()
                    .is_some_and(|s| s.to_string_lossy() == stem)
            });
            let clean_first = stem.ends_with("_a");
            assert!(has || clean_first, "{name} raised nothing");
        }
    }

    #[test]
    fn display_is_gcc_style() {
        let p = Problem::error("lib/x.md", 7, "unknown parameter type");
        assert_eq!(p.to_string(), "lib/x.md:7: error: unknown parameter type");
        let p = Problem::warning("lib/x.md", 0, "whole file");
        assert_eq!(p.to_string(), "lib/x.md: warning: whole file");
    }

    #[test]
    fn value_type_round_trips() {
        for t in ValueType::ALL {
            assert_eq!(ValueType::parse(&t.as_str().to_ascii_lowercase()), Some(t));
            assert_eq!(ValueType::parse(t.as_str()), Some(t));
        }
        assert_eq!(ValueType::parse("Text_Field"), Some(ValueType::TextField));
        assert_eq!(ValueType::parse("dropdown"), None);
    }

    fn with_code(code: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("scripts")).expect("mkdir");
        std::fs::write(dir.path().join("scripts/x.sh"), code).expect("write");
        let md = dir.path().join("x.md");
        (dir, md)
    }

    const HEADER: &str = "---\ntitle: X\nversion: 1\nsource: scripts/x.sh\n---\nbody\n";

    #[test]
    fn parse_script_ok_and_err() {
        let (dir, md) = with_code(b"#!/bin/sh\necho hi\n");
        let spec = parse_script(&md, HEADER, dir.path()).expect("parses");
        assert_eq!(spec.description, "body");
        assert_eq!(spec.code, "#!/bin/sh\necho hi\n");

        let err = parse_script(&md, "---\nversion: 1\n---\n", dir.path()).expect_err("no title");
        assert!(err.iter().any(|p| p.message.contains("missing `title`")));
        assert!(err.iter().any(|p| p.message.contains("missing `source`")));
    }

    #[test]
    fn crlf_on_the_shebang_line_is_an_error() {
        let (dir, md) = with_code(b"#!/bin/bash\r\necho hi\r\n");
        let err = parse_script(&md, HEADER, dir.path()).expect_err("bad interpreter");
        assert_eq!(err.len(), 1, "{err:?}");
        assert_eq!(err[0].line, 1);
        assert!(err[0].message.contains("carriage return"));
    }

    #[test]
    fn byte_order_mark_before_shebang_is_an_error() {
        let (dir, md) = with_code("\u{feff}#!/bin/sh\necho hi\n".as_bytes());
        let err = parse_script(&md, HEADER, dir.path()).expect_err("bom");
        assert!(err[0].message.contains("byte-order mark"));
    }

    #[cfg(unix)]
    #[test]
    fn markdown_link_out_of_the_directory_is_refused() {
        let (dir, _) = with_code(b"#!/bin/sh\n");
        let outside = tempfile::tempdir().expect("tempdir");
        let page = outside.path().join("page.md");
        std::fs::write(&page, HEADER).expect("write");
        std::os::unix::fs::symlink(&page, dir.path().join("x.md")).expect("link");
        let (specs, problems) = read_dir(dir.path());
        assert!(specs.is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("outside"));
    }

    #[test]
    fn url_and_old_site_sources_resolve_to_scripts_dir() {
        let (dir, md) = with_code(b"#!/bin/sh\n");
        let url = HEADER.replace(
            "scripts/x.sh",
            "https://example.org/os2borgerpc/raw/main/scripts/x.sh",
        );
        let (spec, problems) = check_script(&md, &url, dir.path());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            spec.map(|s| s.code_file),
            Some(dir.path().join("scripts/x.sh"))
        );

        let old = HEADER.replace("scripts/x.sh", "/assets/os2borgerpc-scripts/system/x.sh");
        let (spec, problems) = check_script(&md, &old, dir.path());
        assert!(spec.is_some());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].severity, Severity::Warning);
        assert_eq!(problems[0].line, 4);
    }

    #[test]
    fn absolute_source_never_reads_outside() {
        let (dir, md) = with_code(b"#!/bin/sh\n");
        let text = HEADER.replace("scripts/x.sh", "/etc/passwd");
        let err = parse_script(&md, &text, dir.path()).expect_err("outside");
        assert!(err[0].message.contains("not found"), "{err:?}");
    }

    #[cfg(unix)]
    #[test]
    fn symlink_out_of_the_directory_is_refused() {
        let (dir, md) = with_code(b"#!/bin/sh\n");
        let outside = tempfile::tempdir().expect("tempdir");
        let secret = outside.path().join("secret.sh");
        std::fs::write(&secret, "#!/bin/sh\n").expect("write");
        std::os::unix::fs::symlink(&secret, dir.path().join("scripts/link.sh")).expect("link");
        let text = HEADER.replace("scripts/x.sh", "scripts/link.sh");
        let err = parse_script(&md, &text, dir.path()).expect_err("outside");
        assert!(err[0].message.contains("outside"), "{err:?}");
    }

    #[test]
    fn real_upstream_variations_are_accepted() {
        let (dir, md) = with_code(b"#!/bin/sh\n");
        // Shapes seen in the published libraries: no version, unquoted type, int default,
        // unquoted comma list, metadata block, unknown fields, trailing spaces after `key:`.
        let text = "---\ntitle: \"Y\"\nparent: \"Kiosk\"\nsource: scripts/x.sh\nsummary: \"s\"\n\
            nav_exclude: true\nparameters:\n  - name: \"N\"\n    type: text_field\n    \
            default: a,b\n    mandatory: false\n  - name: \"M\"\n    type: \"int\"\n    \
            default: 0\n    mandatory: true\n  - name: \"O\"\n    type: \"string\"\n    \
            mandatory: true\ncompatibility:  \n  - \"22.04\"\nmetadata:\n  uid: \"y\"\n  \
            security: false\n  hidden: true\n---\n";
        let (spec, problems) = check_script(&md, text, dir.path());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("missing `version`"));
        let spec = spec.expect("parses");
        assert_eq!(spec.version, 1);
        assert_eq!(spec.uid.as_deref(), Some("y"));
        assert!(spec.hidden);
        assert_eq!(spec.parameters[0].default.as_deref(), Some("a,b"));
        assert_eq!(spec.parameters[1].default.as_deref(), Some("0"));
        assert_eq!(spec.parameters[2].default, None);
    }

    #[test]
    fn numeric_compatibility_keeps_its_spelling() {
        let (dir, md) = with_code(b"#!/bin/sh\n");
        let text = HEADER.replace("---\nbody", "compatibility:\n  - 22.10\n---\nbody");
        let (spec, problems) = check_script(&md, &text, dir.path());
        assert_eq!(
            spec.map(|s| s.compatibility),
            Some(vec!["22.10".to_string()])
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 6);
    }

    #[test]
    fn deep_nesting_is_refused_with_its_line() {
        let (dir, md) = with_code(b"#!/bin/sh\n");
        let text = format!("---\ntitle: x\nparameters:\n{}x\n---\n", "- ".repeat(5_000));
        let err = parse_script(&md, &text, dir.path()).expect_err("too deep");
        assert_eq!(err.len(), 1, "{err:?}");
        assert_eq!(err[0].line, 4);
        assert!(err[0].message.contains("indented more than"));
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let (dir, md) = with_code(b"#!/bin/sh\n");
        let deep_flow = format!("---\n{}\n---\n", "[".repeat(100_000));
        let deep_block = format!("---\n{}x\n---\n", "- ".repeat(20_000));
        let cases = [
            "",
            "---",
            "---\n",
            "---\n---\n",
            "---\n- a\n- b\n---\n",
            "---\n&a x: *a\n---\n",
            "---\ntitle: *nothing\n---\n",
            "---\n!!binary x: 1\n---\n",
            "---\ntitle: [a\n---\n",
            "---\nparameters: [1, [2], {a: b}, null]\n---\n",
            "---\nparameters:\n  - name: [x]\n    type: {a: 1}\n    default: [1]\n---\n",
            "---\nsource: ..\n---\n",
            "---\nsource: /\n---\n",
            "---\nsource: https://\n---\n",
            "---\nmetadata: 5\ncompatibility: x\nversion: 1.5\ntitle: 3\n---\n",
            "\u{feff}---\r\ntitle: x\r\n---\r\n",
            deep_flow.as_str(),
            deep_block.as_str(),
        ];
        for text in cases {
            let _ = check_script(&md, text, dir.path());
        }
    }
}
