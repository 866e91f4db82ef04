/// What the `page` template draws: navigation, the window picker, sections of charts and tables.
/// Everything here is plain data; the template escapes every string but `chart` (our own SVG).
struct PageModel {
    struct Link {
        var label: String
        var href: String
        var here = false
    }

    struct Field {
        var name: String
        var label: String
        var value: String
        var placeholder: String
        var wide = false
    }

    struct Picker {
        var action: String
        var fields: [Field]
        var hidden: [Field]
        var presets: [Link]
        var timenav: [Link]
        var window: String
    }

    struct Section {
        var title: String
        var wide = false
        var lead: String?
        var chart: String?
        var table: AnswerTable?
        /// Tables of many rows fold under the chart (still in the page, for machines).
        var folded = false
        var downloads: [Link] = []
        var command: String?
        var more: [Link] = []
        var note: String?
        /// The configuration changes that may explain the answer (SPEC §13), listed under it.
        var changes: Aside?
    }

    /// A small table beside a section's answer, under a heading of its own.
    struct Aside {
        var title: String
        var table: AnswerTable?
        var more: [Link] = []
        /// The same rows from the query API.
        var downloads: [Link] = []
    }

    var title: String
    var nav: [Link]
    var heading: String
    var lead: String?
    var facts: [Link] = []
    var picker: Picker?
    var notice: String?
    var error: String?
    /// Lines under the error kept as written: a filter expression with a caret under the mistake.
    var errorDetail: String?
    var sections: [Section] = []
    var script = true
    var css = "/assets/tailflow.css"
    var zoom = "/assets/zoom.js"
}
