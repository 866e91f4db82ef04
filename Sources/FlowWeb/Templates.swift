import Mustache

/// The pages' templates and assets, embedded in the binary (see `Resources/`).
///
/// Every `{{value}}` is HTML-escaped by swift-mustache; triple braces appear only
/// where the value is markup this package wrote itself (charts and CSS).
enum Templates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, bytes) in sources {
            do {
                try library.register(String(decoding: bytes, as: UTF8.self), named: name)
            } catch {
                preconditionFailure("the embedded template \(name).mustache does not parse: \(error)")
            }
        }
        return library
    }()

    static let sources: [(String, [UInt8])] = [
        ("layout", PackageResources.layout_mustache),
        ("table", PackageResources.table_mustache),
        ("report", PackageResources.report_mustache),
        ("page", PackageResources.page_mustache),
        ("login", PackageResources.login_mustache),
    ]

    /// The style sheet, inlined in reports and served to pages.
    static let css = String(decoding: PackageResources.tailflow_css, as: UTF8.self)

    /// Renders a template; the library holds every name used here, so a miss is a programming error.
    static func render(_ model: Any, _ name: String) -> String {
        guard let html = library.render(model, withTemplate: name) else {
            preconditionFailure("no template named \(name)")
        }
        return html
    }
}
