//! Escaping and the page layout. Every dynamic value goes through [`esc`] (text and quoted
//! attributes alike); nothing else builds markup from data.

use std::fmt::Write;

/// `text` safe inside element content and double- or single-quoted attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What a page shows besides its content.
#[derive(Debug, Default)]
pub(crate) struct Page<'a> {
    pub(crate) title: &'a str,
    /// The session's CSRF token: when set, the page is signed in (navigation and sign-out).
    pub(crate) csrf: Option<&'a str>,
    /// The server-sent-events URL whose messages replace the page's live regions.
    pub(crate) live: Option<String>,
    /// A one-time message shown above the content.
    pub(crate) flash: Option<String>,
    /// The open alerts, for the header's bell (signed-in pages).
    pub(crate) open_alerts: u64,
}

/// The whole document: a skip link, the header with navigation and sign-out, the content.
pub(crate) fn layout(page: &Page<'_>, content: &str) -> String {
    let mut out = String::with_capacity(content.len() + 2048);
    let live = page
        .live
        .as_deref()
        .map(|url| format!(" data-live=\"{}\"", esc(url)))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · pollen console</title>\
         <link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
         <script src=\"/console/assets/console.js\" defer></script></head>\
         <body{live}><a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><a class=\"brand\" href=\"/console\">pollen</a>",
        esc(page.title)
    );
    if let Some(csrf) = page.csrf {
        let _ = write!(
            out,
            "<nav aria-label=\"Main\"><a href=\"/console\">Instances</a>\
             <a href=\"/console/new\">Create instance</a>\
             <a href=\"/console/new?paste=1\">Paste JSON</a>\
             <a href=\"/console/workers\">Workers</a></nav>\
             <a class=\"bell{}\" href=\"/console/alerts\" aria-label=\"Alerts: {} open\">\
             <span aria-hidden=\"true\">Alerts</span> <span class=\"count\">{}</span></a>\
             <form method=\"post\" action=\"/console/logout\" class=\"signout\">{}\
             <button type=\"submit\">Sign out</button></form>",
            if page.open_alerts > 0 { " open" } else { "" },
            page.open_alerts,
            page.open_alerts,
            csrf_field(csrf)
        );
    }
    out.push_str("</header><main id=\"main\" tabindex=\"-1\">");
    if let Some(flash) = &page.flash {
        let _ = write!(out, "<p class=\"flash\" role=\"status\">{}</p>", esc(flash));
    }
    out.push_str(content);
    out.push_str("</main></body></html>\n");
    out
}

/// The hidden CSRF input every form carries.
pub(crate) fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(token)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x" onclick='y'>&"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;"
        );
    }

    #[test]
    fn the_layout_escapes_the_title_and_the_flash() {
        let page = Page {
            title: "<t>",
            flash: Some("<b>".into()),
            ..Page::default()
        };
        let html = layout(&page, "");
        assert!(html.contains("&lt;t&gt; · pollen console"));
        assert!(html.contains("&lt;b&gt;"));
        assert!(!html.contains("<b>"));
        assert!(!html.contains("Sign out"), "signed out: no sign-out form");
    }
}
