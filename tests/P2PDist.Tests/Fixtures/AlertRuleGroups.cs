namespace P2PDist.Tests.Fixtures;

/// <summary>
/// Compares two copies of Prometheus rule groups (a rule file's <c>groups</c>, a PrometheusRule's
/// <c>spec.groups</c>) rule by rule, and names each difference: a copy kept beside the one promtool tests must
/// stay the same in every field Prometheus reads (alert or record, expr, for, labels, annotations, and the rest).
/// </summary>
public static class AlertRuleGroups
{
    public static List<string> Differences(object expectedGroups, object actualGroups)
    {
        var differences = new List<string>();
        var expected = Named((List<object>)expectedGroups, "name");
        var actual = Named((List<object>)actualGroups, "name");
        Compare("groups", expected.Keys, actual.Keys, differences);
        foreach (string group in expected.Keys.Intersect(actual.Keys))
        {
            foreach (string field in Fields(expected[group], actual[group]).Where(f => f != "rules"))
                CompareField($"group {group}", field, expected[group], actual[group], differences);
            var expectedRules = Named(YamlTree.List(expected[group], "rules"), "alert", "record");
            var actualRules = Named(YamlTree.List(actual[group], "rules"), "alert", "record");
            Compare($"group {group} rules", expectedRules.Keys, actualRules.Keys, differences);
            foreach (string rule in expectedRules.Keys.Intersect(actualRules.Keys))
            {
                foreach (string field in Fields(expectedRules[rule], actualRules[rule]))
                    CompareField($"group {group} rule {rule}", field, expectedRules[rule], actualRules[rule], differences);
            }
        }
        return differences;
    }

    // Order is compared too: Prometheus evaluates a group's rules in order (a recording rule feeds the next).
    private static void Compare(string what, IEnumerable<string> expected, IEnumerable<string> actual, List<string> differences)
    {
        if (!expected.SequenceEqual(actual))
            differences.Add($"{what}: expected [{string.Join(", ", expected)}], found [{string.Join(", ", actual)}]");
    }

    private static void CompareField(string where, string field, Dictionary<object, object> expected, Dictionary<object, object> actual, List<string> differences)
    {
        string left = Canonical(expected.GetValueOrDefault(field));
        string right = Canonical(actual.GetValueOrDefault(field));
        if (left != right)
            differences.Add($"{where}: {field} is {right}, expected {left}");
    }

    private static IEnumerable<string> Fields(Dictionary<object, object> expected, Dictionary<object, object> actual) =>
        expected.Keys.Concat(actual.Keys).Cast<string>().Distinct().Order(StringComparer.Ordinal);

    private static Dictionary<string, Dictionary<object, object>> Named(List<object> items, params string[] keys)
    {
        var named = new Dictionary<string, Dictionary<object, object>>();
        foreach (var item in items.Cast<Dictionary<object, object>>())
        {
            string name = keys.Select(k => item.GetValueOrDefault(k) as string).FirstOrDefault(n => n is not null)
                ?? throw new Xunit.Sdk.XunitException($"an entry without {string.Join(" or ", keys)}");
            Assert.True(named.TryAdd(name, item), $"{name} appears twice");
        }
        return named;
    }

    /// <summary>A value as one string, maps with their keys sorted, so that key order and flow or block style do not count.</summary>
    private static string Canonical(object? value) => value switch
    {
        null => "(absent)",
        string text => System.Text.Json.JsonSerializer.Serialize(text),
        Dictionary<object, object> map => "{" + string.Join(", ", map.OrderBy(e => (string)e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}: {Canonical(e.Value)}")) + "}",
        List<object> list => "[" + string.Join(", ", list.Select(Canonical)) + "]",
        _ => value.ToString() ?? "",
    };
}
