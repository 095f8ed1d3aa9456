using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// YAML read the way the deployment tests need it: every document of a stream as an untyped tree (maps of
/// objects, lists, scalars as strings), and paths into it that fail with the path that is missing.
/// </summary>
public static class YamlTree
{
    /// <summary>Every non-empty document of a YAML stream (a template that renders nothing is an empty document).</summary>
    public static List<Dictionary<object, object>> Documents(string text)
    {
        var deserializer = new DeserializerBuilder().Build();
        var parser = new Parser(new StringReader(text));
        parser.Consume<StreamStart>();
        var documents = new List<Dictionary<object, object>>();
        while (parser.Accept<DocumentStart>(out _))
        {
            if (deserializer.Deserialize<Dictionary<object, object>?>(parser) is { } document)
                documents.Add(document);
        }
        return documents;
    }

    public static List<Dictionary<object, object>> DocumentsOfFile(string path) => Documents(File.ReadAllText(path));

    public static object? At(object node, params string[] path)
    {
        foreach (string key in path)
            node = node is Dictionary<object, object> map && map.TryGetValue(key, out var next) && next is not null
                ? next
                : throw new Xunit.Sdk.XunitException($"no {string.Join('.', path)} (missing at {key})");
        return node;
    }

    public static bool Has(object node, params string[] path)
    {
        foreach (string key in path)
        {
            if (node is not Dictionary<object, object> map || !map.TryGetValue(key, out var next) || next is null)
                return false;
            node = next;
        }
        return true;
    }

    public static string Text(object node, params string[] path) =>
        At(node, path) as string ?? throw new Xunit.Sdk.XunitException($"{string.Join('.', path)} is not a scalar");

    public static Dictionary<object, object> Map(object node, params string[] path) =>
        At(node, path) as Dictionary<object, object> ?? throw new Xunit.Sdk.XunitException($"{string.Join('.', path)} is not a map");

    public static List<object> List(object node, params string[] path) =>
        At(node, path) as List<object> ?? throw new Xunit.Sdk.XunitException($"{string.Join('.', path)} is not a list");

    /// <summary>The maps of a list, by the value of one of their keys (containers by name, ports by name).</summary>
    public static Dictionary<string, Dictionary<object, object>> ByKey(object node, string key, params string[] path) =>
        List(node, path).Cast<Dictionary<object, object>>().ToDictionary(item => Text(item, key));
}
