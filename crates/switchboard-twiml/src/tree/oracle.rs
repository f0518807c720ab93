//! The scanner checked against quick-xml (ecosystem.md's choice of XML reader) as an oracle.
//!
//! Both read the same generated inputs: well-formed documents printed with random spacing,
//! quoting, references, comments, CDATA and line ends, the same documents with one token
//! inserted or removed, and token soup. Whatever the scanner accepts, quick-xml (with all its
//! checks on) must accept too, with the same elements, attributes and text. Where quick-xml
//! accepts and the scanner refuses, the reason must be one of the rules TwiML adds (no DOCTYPE,
//! no unknown entity, no control character, the bounds) or one quick-xml does not check.

use std::borrow::Cow;

use proptest::prelude::*;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};

use super::{Node, Tree, parse};

/// One flattened event: what both readers must agree on.
#[derive(Debug, PartialEq, Eq)]
enum Flat {
    Start(String, Vec<(String, String)>),
    End,
    Text(String),
}

/// The tree as events, adjacent text merged.
fn flatten(tree: &Tree<'_>) -> Vec<Flat> {
    let mut out = vec![start_of(tree.element(0))];
    walk(tree, 0, &mut out);
    out.push(Flat::End);
    out
}

fn start_of(element: super::Element<'_, '_>) -> Flat {
    Flat::Start(
        element.name.to_owned(),
        element
            .attributes()
            .map(|a| (a.name.to_owned(), a.value.to_string()))
            .collect(),
    )
}

/// Recursive: the tree's depth is capped at MAX_DEPTH.
fn walk(tree: &Tree<'_>, index: usize, out: &mut Vec<Flat>) {
    for child in tree.element(index).children() {
        match child {
            Node::Element(child) => {
                out.push(start_of(tree.element(child)));
                walk(tree, child, out);
                out.push(Flat::End);
            }
            Node::Text { text, .. } => out.push(Flat::Text(text.to_string())),
        }
    }
}

/// quick-xml's reading of `input`, or why it refused; `Ok(None)` when it accepted something
/// TwiML refuses by design (a DOCTYPE, an unknown entity).
fn oracle(input: &str) -> Result<Option<Vec<Flat>>, String> {
    let mut reader = Reader::from_str(input);
    reader.config_mut().enable_all_checks(true);
    let mut out: Vec<Flat> = Vec::new();
    let mut depth = 0usize;
    let mut roots = 0;
    let text = |out: &mut Vec<Flat>, piece: &str, depth: usize| -> Result<(), String> {
        if depth == 0 {
            return if piece.trim_ascii().is_empty() {
                Ok(())
            } else {
                Err("text outside the root".into())
            };
        }
        if piece.is_empty() {
            return Ok(());
        }
        if let Some(Flat::Text(previous)) = out.last_mut() {
            previous.push_str(piece);
        } else {
            out.push(Flat::Text(piece.to_owned()));
        }
        Ok(())
    };
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(_) | Event::Empty(_) if roots > 0 && depth == 0 => {
                return Err("second root".into());
            }
            Event::Start(tag) => {
                out.push(start(&tag)?);
                depth += 1;
            }
            Event::Empty(tag) => {
                out.push(start(&tag)?);
                out.push(Flat::End);
                roots += usize::from(depth == 0);
            }
            Event::End(_) => {
                out.push(Flat::End);
                depth -= 1;
                roots += usize::from(depth == 0);
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                text(&mut out, &content, depth)?;
            }
            Event::CData(d) => {
                if depth == 0 {
                    return Err("CDATA outside the root".into());
                }
                let content = d.xml10_content();
                text(&mut out, &content, depth)?;
            }
            Event::GeneralRef(r) => {
                let resolved: Cow<'_, str> = match r.resolve_char_ref() {
                    Ok(Some(c)) => Cow::Owned(c.to_string()),
                    Ok(None) => match resolve_predefined_entity(&r) {
                        Some(s) => Cow::Borrowed(s),
                        None => return Ok(None),
                    },
                    Err(e) => return Err(e.to_string()),
                };
                text(&mut out, &resolved, depth)?;
            }
            Event::DocType(_) => return Ok(None),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => {
                return if roots == 0 || depth > 0 {
                    Err("no complete root".into())
                } else {
                    Ok(Some(out))
                };
            }
        }
    }
}

fn start(tag: &quick_xml::events::BytesStart<'_>) -> Result<Flat, String> {
    let name = tag.name().0.to_owned();
    let mut attributes = Vec::new();
    for attribute in tag.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        let key = attribute.key.0.to_owned();
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?;
        attributes.push((key, value.into_owned()));
    }
    Ok(Flat::Start(name, attributes))
}

fn check(input: &str) -> Result<(), TestCaseError> {
    let ours = parse(input);
    let theirs = oracle(input);
    match (&ours, &theirs) {
        (Ok(tree), Ok(Some(events))) => {
            prop_assert_eq!(&flatten(tree), events, "different readings of {:?}", input)
        }
        (Ok(_), _) => prop_assert!(false, "accepted {:?}, quick-xml: {:?}", input, theirs),
        (Err(_), Err(_) | Ok(None)) => {}
        (Err(error), Ok(Some(_))) => {
            // Refusals quick-xml does not make, each a rule of the scanner's.
            let known = [
                "control character",
                "nested deeper",
                "more than",
                "separated by white space",
                "`]]>` is not allowed",
                "malformed processing instruction",
                "reserved",
                "XML declaration",
                "byte-order mark",
                "invalid character reference",
                "undefined entity",
                "malformed attribute",
                "must be followed by `=`",
                "must start a tag",
                "encoded as UTF-8",
                "contains `<`",
            ];
            prop_assert!(
                known.iter().any(|rule| error.message.contains(rule)),
                "refused {:?} ({}) but quick-xml read it",
                input,
                error.message
            );
        }
    }
    Ok(())
}

/// Pieces of XML: most inputs are near-misses of well-formed documents.
fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "<",
        ">",
        "</",
        "/>",
        "<a",
        "<b",
        "</a>",
        "</b>",
        "<a>",
        "<b/>",
        " ",
        "x",
        "=",
        "\"",
        "'",
        "&amp;",
        "&lt;",
        "&#65;",
        "&#x42;",
        "&",
        ";",
        "&#0;",
        "&bad;",
        "&#xD800;",
        "<!--",
        "-->",
        "--",
        "<![CDATA[",
        "]]>",
        "]]",
        "<?xml version=\"1.0\"?>",
        "<?pi x?>",
        "<?pi?>",
        "?>",
        "\r\n",
        "\r",
        "\n",
        "\t",
        "é",
        "a=\"1\"",
        " b='2'",
        " c=\"&quot;\r\n\t\"",
        "<!DOCTYPE a>",
        "<a b=\"<\"/>",
        "\u{feff}",
        "<x:y/>",
        "<1/>",
        "<a b='1' b='2'/>",
    ])
}

/// A well-formed element printed with random choices.
fn element(depth: u32) -> BoxedStrategy<String> {
    let name = prop::sample::select(vec!["a", "Say", "x.y", "b-c", "_d", "é"]);
    let attribute = (
        prop::sample::select(vec!["k", "loop", "v:w", "z"]),
        prop::sample::select(vec![
            "1",
            "",
            "a b",
            "&amp;&lt;&gt;&apos;&quot;",
            "&#233;&#x1F600;",
            "l\r\nf\tt",
            "'",
            "\"",
        ]),
        any::<bool>(),
        prop::sample::select(vec![" ", "\n", "  \t"]),
    )
        .prop_map(|(name, value, single, space)| {
            let (quote, value) = match (single, value) {
                (true, "'") | (false, "\"") => ('"', if single { "'" } else { "&quot;" }),
                (true, value) => ('\'', value),
                (false, value) => ('"', value),
            };
            format!("{space}{name}={quote}{value}{quote}")
        });
    let text = prop::sample::select(vec![
        "hi",
        " ",
        "\r\n",
        "a\rb",
        "&amp;",
        "&#65;",
        "<![CDATA[<x>&]]>",
        "<!-- c -->",
        "<?p d?>",
        "é",
        "&lt;&gt;",
    ])
    .prop_map(str::to_owned);
    let leaf = (
        name.clone(),
        prop::collection::vec(attribute.clone(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(name, attributes, spaced)| {
            let mut attributes: Vec<String> = attributes;
            dedup_names(&mut attributes);
            format!(
                "<{name}{}{}/>",
                attributes.concat(),
                if spaced { " " } else { "" }
            )
        });
    if depth == 0 {
        return prop_oneof![leaf, text].boxed();
    }
    let children = prop::collection::vec(element(depth - 1), 0..4);
    let inner = (
        name,
        prop::collection::vec(attribute, 0..3),
        children,
        any::<bool>(),
    )
        .prop_map(|(name, attributes, children, spaced)| {
            let mut attributes: Vec<String> = attributes;
            dedup_names(&mut attributes);
            let close = if spaced {
                format!("</{name} >")
            } else {
                format!("</{name}>")
            };
            format!(
                "<{name}{}>{}{close}",
                attributes.concat(),
                children.concat()
            )
        });
    prop_oneof![1 => leaf, 1 => text, 3 => inner].boxed()
}

/// Keeps the first attribute of each name (duplicates are a separate token case).
fn dedup_names(attributes: &mut Vec<String>) {
    let mut seen = Vec::new();
    attributes.retain(|attribute| {
        let name = attribute
            .trim_start()
            .split('=')
            .next()
            .unwrap_or("")
            .to_owned();
        let fresh = !seen.contains(&name);
        seen.push(name);
        fresh
    });
}

fn document() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "",
            "<?xml version=\"1.0\"?>",
            "<?xml version='1.0' encoding='utf-8' standalone='yes'?>\n",
            "\u{feff}",
        ]),
        prop::sample::select(vec!["", "\n", "<!-- before -->", "<?pi?>"]),
        element(3).prop_filter("root is an element", |e| {
            e.starts_with('<') && !e.starts_with("<!") && !e.starts_with("<?")
        }),
        prop::sample::select(vec!["", "\n", " <!-- after -->\r\n"]),
    )
        .prop_map(|(declaration, before, root, after)| {
            format!("{declaration}{before}{root}{after}")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn well_formed_documents_read_alike(input in document()) {
        prop_assert!(parse(&input).is_ok(), "refused {:?}: {:?}", input, parse(&input).err());
        check(&input)?;
    }

    #[test]
    fn near_misses_read_alike(input in document(), at in any::<prop::sample::Index>(), token in token(), remove in any::<bool>()) {
        let mut cut = at.index(input.len() + 1);
        while !input.is_char_boundary(cut) {
            cut -= 1;
        }
        let mutated = if remove {
            let mut end = (cut + 1).min(input.len());
            while !input.is_char_boundary(end) {
                end += 1;
            }
            format!("{}{}", &input[..cut], &input[end..])
        } else {
            format!("{}{token}{}", &input[..cut], &input[cut..])
        };
        check(&mutated)?;
    }

    #[test]
    fn token_soup_reads_alike(tokens in prop::collection::vec(token(), 0..24)) {
        check(&tokens.concat())?;
    }
}
