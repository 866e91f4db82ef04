import FlowModel
@testable import FlowQuery
import Testing
import TestSupport

/// The `--where` grammar: precedence, literals, and errors that point at the column.
@Suite(.ownThreads)
struct FilterParserTests {
    func parse(_ text: String) throws -> String {
        try FilterExpression(parsing: text).description
    }

    func failure(_ text: String) -> FilterError? {
        do {
            _ = try FilterExpression(parsing: text)
            return nil
        } catch {
            return error
        }
    }

    @Test func notBindsTighterThanAndWhichBindsTighterThanOr() throws {
        let e = try FilterExpression(parsing: "port = 22 or port = 80 and not kind = exit")
        guard case .or(let a, let b) = e.root, case .test(let t) = a, case .and(_, let c) = b, case .not = c else {
            Issue.record("wrong tree: \(e.root)")
            return
        }
        #expect(t.field == .port && t.values.map(\.text) == ["22"])
        #expect(e.description == "port = 22 or port = 80 and not kind = exit")
        #expect(try parse("(port = 22 or port = 80) and not kind = exit") == "(port = 22 or port = 80) and not kind = exit")
        #expect(try parse("not (port = 22 and proto = tcp)") == "not (port = 22 and proto = tcp)")
        #expect(try parse("not not kind = exit") == "not not kind = exit")
        // and/or are left-associative; redundant parentheses disappear.
        #expect(try parse("((src = a) and (dst = b)) and port = 1") == "src = a and dst = b and port = 1")
    }

    @Test func termsOperatorsAndLiterals() throws {
        #expect(try parse(#"tag = "tag:prod" and port in (22, 3389) and not kind = exit"#)
                == "tag = tag:prod and port in (22, 3389) and not kind = exit")
        #expect(try parse("src in 100.64.0.0/10") == "src in (100.64.0.0/10)")
        #expect(try parse("endpoint in fd7a:115c:a1e0::/48") == "endpoint in (fd7a:115c:a1e0::/48)")
        #expect(try parse("PORT NOT IN (1024-65535) AND Proto == TCP") == "port not in (1024-65535) and proto = TCP")
        #expect(try parse("user != alice@example.com or os=linux") == "user != alice@example.com or os = linux")
        #expect(try parse(#"node = "and" or dst = "say \"hi\"""#) == #"node = "and" or dst = "say \"hi\"""#)
        #expect(try parse("endpoint = * and proto in (icmp, icmpv6, 132)") == "endpoint = * and proto in (icmp, icmpv6, 132)")
        let e = try FilterExpression(parsing: "  dst   =  db-1.tail1234.ts.net")
        guard case .test(let t) = e.root else { Issue.record("not a test"); return }
        #expect(t.column == 3 && t.values[0].column == 12 && t.values[0].width == 20)
    }

    @Test func printedExpressionsReadBackTheSame() throws {
        for text in ["a = b", "src = \"x y\" or not (dst in (\"in\", b) and port = 1)", "tag in (\"\", \"a,b\", \"(\")"] {
            let e = try? FilterExpression(parsing: text)
            if let e { #expect(try FilterExpression(parsing: e.description) == e, "\(text)") }
        }
        let e = try FilterExpression(parsing: #"src = "x y" or not (dst in ("in", b) and port = 1)"#)
        #expect(try FilterExpression(parsing: e.description) == e)
    }

    @Test func aMisspelledTermPointsAtItsColumnAndSuggests() throws {
        let e = try #require(failure("kind = exit and prot = tcp"))
        #expect(e.column == 17 && e.width == 4 && e.suggestion == "proto")
        #expect(e.description == """
            --where: unknown term 'prot' at column 17; expected a term (src, dst, endpoint, node, tag, user, os, kind, proto, port); did you mean 'proto'?
              kind = exit and prot = tcp
                              ^^^^
            """)
        #expect(failure("endpont = db-1")?.suggestion == "endpoint")
        #expect(failure("host = db-1")?.suggestion == "endpoint")
        #expect(failure("dport = 22")?.suggestion == "port")
        #expect(failure("zzzzzz = 1")?.suggestion == nil)
    }

    @Test func misspelledValuesSuggestTheClosest() throws {
        let proto = try #require(failure("proto = tpc"))
        #expect(proto.column == 9 && proto.width == 3 && proto.suggestion == "tcp")
        #expect(proto.description.contains("'tpc' is not a protocol at column 9; expected a protocol: tcp, udp, icmp, icmpv6, sctp or a number 0-255; did you mean 'tcp'?"))
        let kind = try #require(failure("kind in (virtual, phisical)"))
        #expect(kind.column == 19 && kind.suggestion == "physical")
        #expect(failure("port = 70000")?.column == 8)
        #expect(failure("port in (20-10)")?.column == 10)
        #expect(failure("src in 100.64.0.0/33")?.reason == "'100.64.0.0/33' is not a network: an IPv4 or IPv6 address, '/', and a prefix length (0-32 or 0-128)")
        #expect(failure("src in 100.64.0/10")?.column == 8)
    }

    @Test func structuralMistakesNameWhatWasExpected() throws {
        let cases: [(String, Int, String)] = [
            ("", 1, "the expression is empty"),
            ("port", 5, "the end of the expression after 'port'"),
            ("port 22", 6, "'22' after 'port'"),
            ("port =", 7, "the end of the expression after '='"),
            ("port = and", 8, "'and' after '='"),
            ("(port = 22", 11, "'(' at column 1 is not closed"),
            ("port = 22)", 10, "unmatched ')'"),
            ("port = 22 port = 23", 11, "'port' cannot follow a complete test"),
            ("port = 22 and", 14, "the end of the expression where a test should start"),
            ("port in (22, 23", 16, "the list opened at column 9 goes on with the end of the expression"),
            ("port in (22 23)", 13, "the list opened at column 9 goes on with '23'"),
            ("port ! 22", 6, "'!' on its own"),
            ("port > 1024", 6, "'>' is not an operator"),
            ("tag = \"tag:prod", 7, "unterminated string"),
            ("port not 22", 10, "'not' after 'port' must be followed by 'in'"),
            ("and port = 1", 1, "'and' where a test should start"),
            ("\"src\" = x", 1, "unknown term \"src\""),
        ]
        for (text, column, reason) in cases {
            let e = failure(text)
            #expect(e?.column == column && e?.reason == reason, "\(text): \(String(describing: e))")
            #expect(e?.expected != nil, "\(text) names what was expected")
        }
        // The caret sits under the column, as wide as the token.
        let text = "port = 22 and (kind = exit or kind = virtual"
        let e = try #require(failure(text))
        #expect(e.column == text.count + 1)
        #expect(e.description.hasSuffix("\n  " + text + "\n  " + String(repeating: " ", count: text.count) + "^"))
        // Right-nested trees keep their parentheses when printed, so they read back as themselves.
        let nested = FilterExpression(source: "", root: .and(.test(.init(field: .port, op: .equal, values: [.init("1")])),
                                                             .and(.test(.init(field: .port, op: .equal, values: [.init("2")])),
                                                                  .test(.init(field: .port, op: .equal, values: [.init("3")])))))
        #expect(nested.description == "port = 1 and (port = 2 and port = 3)")
        #expect(try FilterExpression(parsing: nested.description).root == nested.root)
    }

    @Test func suggestionsUseEditDistance() {
        #expect(Suggest.distance(Array("tpc"), Array("tcp")) == 1)
        #expect(Suggest.distance(Array("kitten"), Array("sitting")) == 3)
        #expect(Suggest.closest("udpp", among: ["tcp", "udp"]) == "udp")
        #expect(Suggest.closest("ex", among: ["exit", "virtual"]) == "exit")
        #expect(Suggest.closest("q", among: ["tcp", "udp"]) == nil)
    }

    func ip(_ text: String) -> IPAddress { IPAddress(text)! }

    @Test func networksContainTheirAddresses() throws {
        let cgnat = try #require(FilterValues.network("100.64.0.0/10"))
        #expect(cgnat.contains(ip("100.127.255.255")))
        #expect(!cgnat.contains(ip("100.128.0.0")))
        #expect(!cgnat.contains(ip("fd7a:115c:a1e0::1")))
        let ula = try #require(FilterValues.network("fd7a:115c:a1e0::/48"))
        #expect(ula.contains(ip("fd7a:115c:a1e0:ab12::1")))
        #expect(!ula.contains(ip("fd7a:115c:a1e1::1")))
        #expect(try #require(FilterValues.network("0.0.0.0/0")).contains(ip("8.8.8.8")))
        #expect(try #require(FilterValues.network("::/0")).contains(ip("2001:db8::1")))
        let host = try #require(FilterValues.network("fd7a:115c:a1e0::5/128"))
        #expect(host.contains(ip("fd7a:115c:a1e0::5")) && !host.contains(ip("fd7a:115c:a1e0::4")))
        let v6_70 = try #require(FilterValues.network("2001:db8:0:0:fc00::/70"))
        #expect(v6_70.contains(ip("2001:db8::ffff:1")) == false)
        #expect(v6_70.contains(ip("2001:db8::fc00:0:0:1")))
    }
}
