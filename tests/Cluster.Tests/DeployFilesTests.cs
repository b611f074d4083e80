using System.Text.RegularExpressions;
using Catalogs.Grains;
using Catalogs.Grains.Hosting;
using Catalogs.Tests;
using YamlDotNet.RepresentationModel;

namespace Catalogs.Cluster.Tests;

/// <summary>Docker cannot run here, so the deploy files are read instead: their structure, and that every setting,
/// port and image target they name exists in the code.</summary>
public sealed partial class DeployFilesTests
{
    static readonly string Deploy = Path.Combine(TestPaths.RepoRoot, "deploy");

    /// <summary>The compose file's services, with YAML merge keys (<c>&lt;&lt;: *anchor</c>) applied.</summary>
    static Dictionary<string, YamlMappingNode> Services()
    {
        var yaml = new YamlStream();
        using (var reader = File.OpenText(Path.Combine(Deploy, "docker-compose.yml"))) yaml.Load(reader);
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        return ((YamlMappingNode)root["services"]).Children.ToDictionary(
            s => ((YamlScalarNode)s.Key).Value!, s => Merged((YamlMappingNode)s.Value));
    }

    static YamlMappingNode Merged(YamlMappingNode node)
    {
        var result = new YamlMappingNode();
        if (node.Children.TryGetValue(new YamlScalarNode("<<"), out var merge))
            foreach (var (key, value) in Merged((YamlMappingNode)merge).Children) result.Children[key] = value;
        foreach (var (key, value) in node.Children)
        {
            if (key is YamlScalarNode { Value: "<<" }) continue;
            result.Children[key] = value is YamlMappingNode m ? Merged(m) : value;
        }
        return result;
    }

    static string? Scalar(YamlMappingNode node, params string[] path)
    {
        YamlNode current = node;
        foreach (var key in path)
            if (current is not YamlMappingNode m || !m.Children.TryGetValue(new YamlScalarNode(key), out current!))
                return null;
        return (current as YamlScalarNode)?.Value;
    }

    static Dictionary<string, string> Environment(YamlMappingNode service) =>
        service.Children.TryGetValue(new YamlScalarNode("environment"), out var env)
            ? ((YamlMappingNode)env).Children.ToDictionary(e => ((YamlScalarNode)e.Key).Value!,
                e => ((YamlScalarNode)e.Value).Value!)
            : [];

    [Fact]
    public void Compose_runs_Redis_PostgreSQL_three_silos_and_two_API_hosts_on_one_cluster()
    {
        var services = Services();
        Assert.Contains("redis", services.Keys);
        Assert.Contains("postgres", services.Keys);
        var silos = services.Where(s => Scalar(s.Value, "build", "target") == "silo").ToList();
        var apis = services.Where(s => Scalar(s.Value, "build", "target") == "apihost").ToList();
        Assert.Equal(3, silos.Count);
        Assert.Equal(2, apis.Count);
        foreach (var (name, silo) in silos)
        {
            var env = Environment(silo);
            Assert.Equal("Cluster", env["Cluster__Mode"]);
            Assert.Equal(name, env["Cluster__AdvertisedAddress"]); // each silo advertises its own service name
        }
        // Every member reaches the same Redis and PostgreSQL, which the compose file runs.
        var members = silos.Concat(apis).Select(m => Environment(m.Value)).ToList();
        Assert.Single(members.Select(e => e["Cluster__Redis"]).Distinct());
        Assert.Single(members.Select(e => e["Cluster__Postgres"]).Distinct());
        Assert.StartsWith("redis:", members[0]["Cluster__Redis"]);
        var postgres = Environment(services["postgres"]);
        var connection = members[0]["Cluster__Postgres"];
        Assert.Contains("Host=postgres", connection);
        Assert.Contains($"Username={postgres["POSTGRES_USER"]}", connection);
        Assert.Contains($"Password={postgres["POSTGRES_PASSWORD"]}", connection);
        Assert.Contains($"Database={postgres["POSTGRES_DB"]}", connection);
        // API hosts are published on distinct host ports, onto the port they listen on.
        var published = apis.Select(a => ((YamlSequenceNode)a.Value["ports"]).Children.Cast<YamlScalarNode>()
            .Single().Value!).ToList();
        Assert.Equal(published.Count, published.Select(p => p.Split(':')[0]).Distinct().Count());
        foreach (var (_, api) in apis)
            Assert.EndsWith(":" + ((YamlSequenceNode)api["ports"]).Children.Cast<YamlScalarNode>().Single().Value!
                .Split(':')[1], Environment(api)["Urls"]);
    }

    [Fact]
    public void Every_setting_the_deploy_files_give_is_one_the_code_reads()
    {
        var known = new Dictionary<string, HashSet<string>>
        {
            [DeploymentOptions.Section] = Properties(typeof(DeploymentOptions)),
            [CatalogsOptions.Section] = Properties(typeof(CatalogsOptions)),
            ["Orleans"] = KeysRead("src/Grains/Hosting/ClusterHosting.cs", "ports"),
            ["Demo"] = SourceProperties("src/ApiHost/Demo/DemoOptions.cs"),
            ["Api"] = SourceProperties("src/ApiHost/Infrastructure/ApiOptions.cs"),
        };
        var given = Services().Values.SelectMany(Environment).Select(e => e.Key)
            .Concat(DockerfileSettings()).Where(k => k.Contains("__")).Distinct().ToList();
        Assert.NotEmpty(given);
        foreach (var key in given)
        {
            var (section, name) = (key.Split("__")[0], key.Split("__")[1]);
            Assert.True(known.TryGetValue(section, out var names) && names.Contains(name),
                $"{key} is given by the deploy files but read by no options class");
        }
    }

    [Fact]
    public void The_Dockerfile_builds_the_targets_compose_names_and_exposes_their_ports()
    {
        var dockerfile = File.ReadAllText(Path.Combine(Deploy, "Dockerfile"));
        foreach (var target in Services().Values.Select(s => Scalar(s, "build", "target")).OfType<string>())
            Assert.Matches($@"(?m)^FROM \S+ AS {target}$", dockerfile);
        var stages = Regex.Split(dockerfile, @"(?m)^FROM ");
        string Stage(string target) => stages.Single(s => s.Contains($" AS {target}"));
        var silo = Stage("silo");
        Assert.Contains("Catalogs.Silo.dll", silo);
        foreach (var port in new[] { "Orleans__SiloPort=(\\d+)", "Orleans__GatewayPort=(\\d+)" })
            Assert.Matches($@"EXPOSE .*\b{Regex.Match(silo, port).Groups[1].Value}\b", silo);
        var api = Stage("apihost");
        Assert.Contains("Catalogs.ApiHost.dll", api);
        Assert.Matches($@"EXPOSE {Regex.Match(api, @"Urls=http://\+:(\d+)").Groups[1].Value}\b", api);
        // The readiness path the compose file names is the API host's.
        Assert.Contains("\"/readyz\"", File.ReadAllText(Path.Combine(TestPaths.RepoRoot,
            "src/ApiHost/Health/HealthEndpoints.cs")));
    }

    static IEnumerable<string> DockerfileSettings() =>
        SettingAssignment().Matches(File.ReadAllText(Path.Combine(Deploy, "Dockerfile"))).Select(m =>
            m.Groups[1].Value);

    [GeneratedRegex(@"\b([A-Za-z]+__[A-Za-z]+)=")]
    private static partial Regex SettingAssignment();

    static HashSet<string> Properties(Type options) => options.GetProperties().Select(p => p.Name).ToHashSet();

    /// <summary>The public properties of an options class in a project these tests do not link.</summary>
    static HashSet<string> SourceProperties(string file) =>
        Regex.Matches(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, file)), @"public \S+ (\w+) \{ get; set; \}")
            .Select(m => m.Groups[1].Value).ToHashSet();

    /// <summary>The keys read from a configuration section variable, e.g. <c>ports.GetValue("SiloPort",
    /// …)</c>.</summary>
    static HashSet<string> KeysRead(string file, string variable) =>
        Regex.Matches(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, file)), variable + @"\.GetValue\(""(\w+)""")
            .Select(m => m.Groups[1].Value).ToHashSet();
}
