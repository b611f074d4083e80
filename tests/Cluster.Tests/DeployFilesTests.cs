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
            ["Telemetry"] = SourceProperties("src/ServiceDefaults/TelemetryOptions.cs"),
            ["Access"] = SourceProperties("src/ApiHost/Access/AccessOptions.cs"),
            ["Imports"] = SourceProperties("src/ApiHost/Imports/ImportOptions.cs"),
        };
        var manifests = Manifests();
        var kubernetes = manifests.Where(m => Kind(m) is "ConfigMap")
            .SelectMany(m => ((YamlMappingNode)m["data"]).Children.Keys.Cast<YamlScalarNode>().Select(k => k.Value!))
            .Concat(manifests.Where(m => Kind(m) is "Secret")
                .SelectMany(m => ((YamlMappingNode)m["stringData"]).Children.Keys.Cast<YamlScalarNode>()
                    .Select(k => k.Value!)))
            .Concat(manifests.Where(m => Kind(m) is "Deployment").SelectMany(Containers)
                .SelectMany(c => Sequence(c, "env")).Select(e => Scalar(e, "name")!));
        var given = Services().Values.SelectMany(Environment).Select(e => e.Key)
            .Concat(DockerfileSettings()).Concat(kubernetes).Where(k => k.Contains("__")).Distinct().ToList();
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
        Assert.Matches(@"EXPOSE .*\b8080\b", silo); // probes and metrics
        // The readiness path the compose file names is served by both.
        Assert.Contains("\"/readyz\"", ServiceDefaults);
    }

    static string ServiceDefaults => File.ReadAllText(Path.Combine(TestPaths.RepoRoot,
        "src/ServiceDefaults/ServiceDefaultsExtensions.cs"));

    /// <summary>Every document of every manifest under deploy/kubernetes.</summary>
    static List<YamlMappingNode> Manifests()
    {
        var documents = new List<YamlMappingNode>();
        foreach (var file in Directory.GetFiles(Path.Combine(Deploy, "kubernetes"), "*.yaml").Order())
        {
            var yaml = new YamlStream();
            using (var reader = File.OpenText(file)) yaml.Load(reader);
            documents.AddRange(yaml.Documents.Select(d => (YamlMappingNode)d.RootNode));
        }
        return documents;
    }

    static string? Kind(YamlMappingNode manifest) => Scalar(manifest, "kind");

    static string Name(YamlMappingNode manifest) => Scalar(manifest, "metadata", "name")!;

    static IEnumerable<YamlMappingNode> Sequence(YamlMappingNode node, params string[] path)
    {
        YamlNode current = node;
        foreach (var key in path)
            if (current is not YamlMappingNode m || !m.Children.TryGetValue(new YamlScalarNode(key), out current!))
                return [];
        return ((YamlSequenceNode)current).Children.Cast<YamlMappingNode>();
    }

    static IEnumerable<YamlMappingNode> Containers(YamlMappingNode deployment) =>
        Sequence(deployment, "spec", "template", "spec", "containers");

    static Dictionary<string, string> Labels(YamlMappingNode node, params string[] path)
    {
        YamlNode current = node;
        foreach (var key in path) current = ((YamlMappingNode)current)[key];
        return ((YamlMappingNode)current).Children.ToDictionary(l => ((YamlScalarNode)l.Key).Value!,
            l => ((YamlScalarNode)l.Value).Value!);
    }

    [Fact]
    public void Kubernetes_manifests_run_silos_with_Orleans_hosting_and_API_hosts_behind_a_service_with_probes()
    {
        var manifests = Manifests();
        YamlMappingNode One(string kind, string name) => manifests.Single(m => Kind(m) == kind && Name(m) == name);
        var silo = One("Deployment", "catalogs-silo");
        var api = One("Deployment", "catalogs-api");
        var config = One("ConfigMap", "catalogs-config");
        var secret = One("Secret", "catalogs-secrets");
        Assert.Equal("Cluster", Scalar(config, "data", "Cluster__Mode"));
        Assert.Equal("true", Scalar(config, "data", "Cluster__Kubernetes"));

        // Orleans' Kubernetes hosting: the pod's identity in the environment, its labels, and a service account
        // allowed to watch and delete pods.
        var podLabels = Labels(silo, "spec", "template", "metadata", "labels");
        Assert.Contains("orleans/serviceId", podLabels.Keys);
        Assert.Contains("orleans/clusterId", podLabels.Keys);
        var siloContainer = Containers(silo).Single();
        var siloEnv = Sequence(siloContainer, "env").Select(e => Scalar(e, "name")).ToHashSet();
        string[] podIdentity = ["POD_NAME", "POD_NAMESPACE", "POD_IP", "ORLEANS_SERVICE_ID", "ORLEANS_CLUSTER_ID"];
        foreach (var name in podIdentity)
            Assert.Contains(name, siloEnv);
        var account = Scalar(silo, "spec", "template", "spec", "serviceAccountName")!;
        One("ServiceAccount", account);
        var binding = manifests.Single(m => Kind(m) == "RoleBinding"
            && Sequence(m, "subjects").Any(s => Scalar(s, "name") == account));
        var role = One("Role", Scalar(binding, "roleRef", "name")!);
        var rule = Sequence(role, "rules").Single(r => ((YamlSequenceNode)r["resources"]).Children
            .Cast<YamlScalarNode>().Any(v => v.Value == "pods"));
        var verbs = ((YamlSequenceNode)rule["verbs"]).Children.Cast<YamlScalarNode>().Select(v => v.Value).ToList();
        foreach (var verb in new[] { "get", "watch", "list", "delete" }) Assert.Contains(verb, verbs);

        var dockerfile = File.ReadAllText(Path.Combine(Deploy, "Dockerfile"));
        foreach (var (deployment, target) in new[] { (silo, "silo"), (api, "apihost") })
        {
            var container = Containers(deployment).Single();
            // The image is the Dockerfile target's, its ports the ones that target listens on.
            Assert.StartsWith($"catalogs-{target}:", Scalar(container, "image"));
            Assert.Matches($@"(?m)^FROM \S+ AS {target}$", dockerfile);
            var ports = Sequence(container, "ports").ToDictionary(p => Scalar(p, "name")!,
                p => Scalar(p, "containerPort")!);
            Assert.Equal("8080", ports["http"]);
            if (target == "silo")
            {
                Assert.Equal("11111", ports["silo"]);
                Assert.Equal("30000", ports["gateway"]);
            }
            // Probes hit the health endpoints every process maps, on a port the container declares.
            foreach (var (probe, path) in new[] { ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz") })
            {
                Assert.Equal(path, Scalar(container, probe, "httpGet", "path"));
                Assert.Contains(Scalar(container, probe, "httpGet", "port")!, ports.Keys);
                Assert.Contains($"\"{path}\"", ServiceDefaults);
            }
            Assert.NotNull(Scalar(container, "resources", "requests", "memory"));
            Assert.NotNull(Scalar(container, "resources", "limits", "memory"));
            // Settings come from the ConfigMap and the Secret, by keys they hold.
            Assert.Contains(Sequence(container, "envFrom"), e => Scalar(e, "configMapRef", "name") == Name(config));
            foreach (var key in Sequence(container, "env").Select(e => Scalar(e, "valueFrom", "secretKeyRef", "key"))
                .OfType<string>())
                Assert.NotNull(Scalar(secret, "stringData", key));
            // A disruption budget covers each deployment's pods.
            var labels = Labels(deployment, "spec", "template", "metadata", "labels");
            Assert.Contains(manifests.Where(m => Kind(m) == "PodDisruptionBudget"), pdb =>
                Labels(pdb, "spec", "selector", "matchLabels").All(l => labels.GetValueOrDefault(l.Key) == l.Value));
        }
        var service = manifests.Single(m => Kind(m) == "Service");
        var apiLabels = Labels(api, "spec", "template", "metadata", "labels");
        Assert.All(Labels(service, "spec", "selector"), l => Assert.Equal(l.Value, apiLabels[l.Key]));
        Assert.Equal("http", Scalar(Sequence(service, "spec", "ports").Single(), "targetPort"));
        // The silo mounts the Vertex credentials the Secret holds where GOOGLE_APPLICATION_CREDENTIALS says.
        var credentials = Sequence(siloContainer, "env").Single(e => Scalar(e, "name") ==
            "GOOGLE_APPLICATION_CREDENTIALS");
        Assert.EndsWith("/vertex-credentials.json", Scalar(credentials, "value"));
        Assert.NotNull(Scalar(secret, "stringData", "vertex-credentials.json"));
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
