import FlowModel
import Testing
import TestSupport

/// The JSON helpers the pages use to show a change's old and new values.
@Suite(.ownThreads)
struct JSONTextTests {
    @Test func unquotedUndoesEveryEscapeAndRefusesWhatIsNoString() {
        #expect(JSONText.unquoted(#""{\"acls\":[]}""#) == #"{"acls":[]}"#)
        #expect(JSONText.unquoted(#""a\\b\/c\n\t\u00e9\ud83d\ude00""#) == "a\\b/c\n\té😀")
        #expect(JSONText.unquoted(JSONText.quoted("x\"y\u{1}")) == "x\"y\u{1}")
        for notOne in [#"["a"]"#, "true", "42", #""a" "b""#, #""a\"#, #""\x""#, #""\u12""#, "\""] {
            #expect(JSONText.unquoted(notOne) == nil, "\(notOne)")
        }
    }

    @Test func prettyIndentsInOrderAndLeavesStringsAlone() {
        #expect(JSONText.pretty(#"{"b":[1,{"x":"a,b:{c}"}],"a":{},"c":[]}"#) == """
            {
              "b": [
                1,
                {
                  "x": "a,b:{c}"
                }
              ],
              "a": {},
              "c": []
            }
            """)
        #expect(JSONText.pretty("\"s\"") == "\"s\"")
    }
}
